{
  "targets": [
    {
      "target_name": "native_workers",
      "sources": [
        "src/core/bell.c",
        "src/core/fdpass.c",
        "src/core/fork_channel.c",
        "src/core/kernels.c",
        "src/core/pool.c",
        "src/core/pool_cache.c",
        "src/core/ring.c",
        "src/core/spawn.c",
        "src/napi/addon.c",
        "src/napi/bell.c",
        "src/napi/bytes.c",
        "src/napi/common.c",
        "src/napi/fork_channel.c",
        "src/napi/ipc_pipe.c",
        "src/napi/pool.c",
        "src/napi/ring.c",
        "src/napi/spawn.c"
      ],
      "include_dirs": ["include", "src"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror=implicit-function-declaration", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"],
      "libraries": ["-lpthread", "-ldl"]
    },
    {
      "target_name": "native_workers_testing",
      # A shared library ending in .node-testing, not a .node module: then
      # build/Release holds one .node file, the one node-gyp-build and
      # prebuildify take. test/support/testing_binding.js dlopens it.
      "type": "shared_library",
      "product_extension": "node-testing",
      "sources": [
        "src/core/ring.c",
        "src/napi/common.c",
        "src/napi/testing.c"
      ],
      "include_dirs": ["include", "src"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror=implicit-function-declaration", "-fvisibility=hidden"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "nw_exec_helper",
      "type": "executable",
      "sources": ["src/core/exec_helper.c"],
      "include_dirs": ["src"],
      "defines": ["_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra"]
    }
  ]
}
