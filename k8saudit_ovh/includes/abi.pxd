# The Falco plugin ABI (c/plugin_abi.h), declared once for every Cython module.
from libc.stdint cimport uint16_t, uint32_t, uint64_t, int32_t

cdef extern from "plugin_abi.h" nogil:
    ctypedef enum ss_plugin_rc:
        SS_PLUGIN_SUCCESS
        SS_PLUGIN_FAILURE
        SS_PLUGIN_TIMEOUT
        SS_PLUGIN_EOF
        SS_PLUGIN_NOT_SUPPORTED

    ctypedef uint32_t ss_plugin_bool

    ctypedef struct ss_plugin_event:
        uint64_t ts
        uint64_t tid
        uint32_t len
        uint16_t type
        uint32_t nparams

    ctypedef struct ss_plugin_event_input:
        const ss_plugin_event* evt
        uint64_t evtnum
        const char* evtsrc

    ctypedef union ss_plugin_extract_result "ss_plugin_extract_field::<anonymous union>":
        const char** str
        uint64_t* u64

    ctypedef struct ss_plugin_extract_field:
        ss_plugin_extract_result res
        uint64_t res_len
        uint32_t field_id
        const char* field
        const char* arg_key
        uint64_t arg_index
        ss_plugin_bool arg_present
        uint32_t ftype
        ss_plugin_bool flist

    ctypedef struct ss_plugin_field_extract_input:
        void* owner
        void* get_owner_last_error
        uint32_t num_fields
        ss_plugin_extract_field* fields

    ctypedef union ss_plugin_metric_value:
        uint64_t u64
        double d

    ctypedef struct ss_plugin_metric:
        const char* name
        uint32_t type
        ss_plugin_metric_value value
        uint32_t value_type

    enum:
        K8A_PLUGIN_MAX_ERRLEN
        K8A_EVENT_PAYLOAD_OFFSET
        K8A_EVENT_TYPE_PLUGIN
        K8A_FIELD_TYPE_STRING
        SS_PLUGIN_METRIC_TYPE_MONOTONIC
        SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC
        SS_PLUGIN_METRIC_VALUE_TYPE_U64
