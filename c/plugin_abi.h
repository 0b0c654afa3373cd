/*
 * Falco plugin ABI, API 3.0.0 layout, as described in shared/docs/falco-plugin-api.md.
 * Declared once here; the shim and every C++ module include this file.
 * Only members that exist in the 3.0.0 layout are declared: reading a newer member
 * would read past the struct on an old host.
 */
#ifndef K8A_PLUGIN_ABI_H
#define K8A_PLUGIN_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ss_plugin_rc {
	SS_PLUGIN_SUCCESS = 0,
	SS_PLUGIN_FAILURE = 1,
	SS_PLUGIN_TIMEOUT = -1,
	SS_PLUGIN_EOF = 2,
	SS_PLUGIN_NOT_SUPPORTED = 3,
} ss_plugin_rc;

typedef enum ss_plugin_schema_type {
	SS_PLUGIN_SCHEMA_NONE = 0,
	SS_PLUGIN_SCHEMA_JSON = 1,
} ss_plugin_schema_type;

typedef uint32_t ss_plugin_bool;
typedef void ss_plugin_t;
typedef void ss_instance_t;
typedef void ss_plugin_owner_t;

#define K8A_PLUGIN_MAX_ERRLEN 1024
#define K8A_EVENT_TYPE_PLUGIN 322
#define K8A_EVENT_HEADER_LEN 26
#define K8A_EVENT_PAYLOAD_OFFSET 38

#pragma pack(push, 1)
typedef struct ss_plugin_event {
	uint64_t ts;
	uint64_t tid;
	uint32_t len;
	uint16_t type;
	uint32_t nparams;
} ss_plugin_event;
#pragma pack(pop)

typedef struct ss_plugin_event_input {
	const ss_plugin_event* evt;
	uint64_t evtnum;
	const char* evtsrc;
} ss_plugin_event_input;

typedef struct ss_plugin_byte_buffer {
	uint32_t len;
	const void* ptr;
} ss_plugin_byte_buffer;

typedef struct ss_plugin_extract_field {
	union {
		const char** str;
		uint64_t* u64;
		uint32_t* u32;
		ss_plugin_bool* boolean;
		ss_plugin_byte_buffer* buf;
	} res;
	uint64_t res_len;
	uint32_t field_id;
	const char* field;
	const char* arg_key;
	uint64_t arg_index;
	ss_plugin_bool arg_present;
	uint32_t ftype;
	ss_plugin_bool flist;
} ss_plugin_extract_field;

/* 3.0.0 layout: 64 bytes. table_reader_ext (3.1) and value_offsets (3.11) are not declared. */
typedef struct ss_plugin_field_extract_input {
	ss_plugin_owner_t* owner;
	const char* (*get_owner_last_error)(ss_plugin_owner_t* o);
	uint32_t num_fields;
	ss_plugin_extract_field* fields;
	void* table_reader[4];
} ss_plugin_field_extract_input;

/* 3.0.0 layout: 32 bytes. log_fn (3.3) is not declared. */
typedef struct ss_plugin_init_input {
	const char* config;
	ss_plugin_owner_t* owner;
	const char* (*get_owner_last_error)(ss_plugin_owner_t* o);
	const void* tables;
} ss_plugin_init_input;

enum { SS_PLUGIN_METRIC_TYPE_MONOTONIC = 0, SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC = 1 };
enum {
	SS_PLUGIN_METRIC_VALUE_TYPE_U32 = 0,
	SS_PLUGIN_METRIC_VALUE_TYPE_S32 = 1,
	SS_PLUGIN_METRIC_VALUE_TYPE_U64 = 2,
	SS_PLUGIN_METRIC_VALUE_TYPE_S64 = 3,
	SS_PLUGIN_METRIC_VALUE_TYPE_D = 4,
};

typedef struct ss_plugin_metric {
	const char* name;
	uint32_t type;
	union {
		uint32_t u32;
		int32_t s32;
		uint64_t u64;
		int64_t s64;
		double d;
	} value;
	uint32_t value_type;
} ss_plugin_metric;

#define K8A_FIELD_TYPE_STRING 9

#ifdef __cplusplus
}
#endif

#endif
