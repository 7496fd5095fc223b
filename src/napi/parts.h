/*
 * parts.h - the initialiser of each part of the addon. Each adds its
 * functions and constants to `exports` and returns it, or NULL with an
 * exception pending. addon.c calls them in turn; JavaScript thread of the
 * loading environment (the addon loads once per environment: the main
 * thread and every worker thread that requires it).
 */
#ifndef NW_NAPI_PARTS_H
#define NW_NAPI_PARTS_H

#include <node_api.h>

napi_value nw_bytes_init_napi(napi_env env, napi_value exports);
napi_value nw_ring_init_napi(napi_env env, napi_value exports);
napi_value nw_pool_init_napi(napi_env env, napi_value exports);
napi_value nw_fork_channel_init_napi(napi_env env, napi_value exports);
napi_value nw_ipc_pipe_init_napi(napi_env env, napi_value exports);
napi_value nw_spawn_init_napi(napi_env env, napi_value exports);
napi_value nw_bell_init_napi(napi_env env, napi_value exports);

#endif
