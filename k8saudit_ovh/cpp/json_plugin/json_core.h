/*
 * The C face of the json plugin's C++ core (JsonFields), for c/json_plugin.c: one core per
 * plugin state. No call throws; each is safe on any event the host passes.
 */
#ifndef K8A_JSON_CORE_H
#define K8A_JSON_CORE_H

#include "plugin_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct k8a_json_core k8a_json_core;

/* NULL when out of memory. */
k8a_json_core* k8a_json_core_new(void);
void k8a_json_core_free(k8a_json_core* core);
/* plugin_extract_fields: results stay valid until the next call on the same core. */
ss_plugin_rc k8a_json_core_extract(k8a_json_core* core, const ss_plugin_event_input* evt,
                                   const ss_plugin_field_extract_input* in);
/* Why the last call failed. */
const char* k8a_json_core_last_error(const k8a_json_core* core);

#ifdef __cplusplus
}
#endif

#endif
