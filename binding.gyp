{
  "targets": [
    {
      "target_name": "native_workers",
      "sources": [
        "src/core/bell.c",
        "src/core/ring.c",
        "src/napi/addon.c",
        "src/napi/ring.c",
        "src/napi/testing.c",
        "src/napi/worker.c"
      ],
      "include_dirs": ["include", "src"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"],
      "libraries": ["-lpthread"]
    }
  ]
}
