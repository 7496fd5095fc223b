/*
 * addon.c - the module entry point: registers each part's functions on the
 * exports object and nothing else. The helpers the parts share are in
 * common.c; each part keeps whatever per-environment state it has in its
 * own handles and env cleanup hooks.
 */
#include "napi/parts.h"

NAPI_MODULE_INIT() {
  napi_value (*const parts[])(napi_env, napi_value) = {
      nw_bytes_init_napi,        nw_ring_init_napi,     nw_pool_init_napi,
      nw_fork_channel_init_napi, nw_ipc_pipe_init_napi, nw_spawn_init_napi,
      nw_bell_init_napi,
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    if (!parts[i](env, exports)) return NULL;
  return exports;
}
