/*
 * json_host: a Falco-like host for an extraction-only plugin such as `json`. It loads the
 * plugin as Falco does (dlopen RTLD_NOW | RTLD_LOCAL in a process without Python, the
 * load-time checks of a 3.0.0 host), then feeds each non-empty line of a file as the data
 * of a plugin event (type 322) and extracts every field with one call per field, with host
 * input structs of their 3.0.0 size ending at a guard page.
 *
 *   json_host --info PLUGIN.so
 *       {"name","version","api","description","contact","fields","extract_sources",
 *        "schema_type","schema"}
 *   json_host [-c CONFIG] [-E] [-s TS | -S TS_FILE] [-T TYPE] [-f SPECS_FILE] PLUGIN.so LINES_FILE [FIELD_SPEC ...]
 *       one line per event: {"line":N,"values":{"spec":"v" | null | {"rc":R}}}, a value's
 *       bytes >= 0x80 written as \u00XX (as the golden files of corpus/golden-json)
 *   json_host -b ROUNDS ... : the same events ROUNDS times, no per-event output; the end
 *       record gives {"events","value_bytes","thread_cpu_s"} (CPU time of the extraction loop),
 *       and with tests/host/malloc_count.so preloaded "allocations" from the second round on
 * -E: empty lines are events too (with an empty payload).
 * -s: the events' timestamp (default 1700000000000000000); -S: a file of one timestamp per
 * event instead; -T: the event type written (default 322; another type checks what the
 * plugin does with non-plugin events).
 * Exit codes: 0 ok, 1 usage/load error, 2 check failed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "plugin_abi.h"
#define HOST_NAME "json_host"
#include "host_common.h"

typedef struct plugin_api {
	void* handle;
	const char* (*get_required_api_version)(void);
	const char* (*get_version)(void);
	const char* (*get_name)(void);
	const char* (*get_description)(void);
	const char* (*get_contact)(void);
	const char* (*get_fields)(void);
	const char* (*get_extract_event_sources)(void);
	const char* (*get_init_schema)(ss_plugin_schema_type*);
	ss_plugin_t* (*init)(const ss_plugin_init_input*, ss_plugin_rc*);
	void (*destroy)(ss_plugin_t*);
	const char* (*get_last_error)(ss_plugin_t*);
	ss_plugin_rc (*extract_fields)(ss_plugin_t*, const ss_plugin_event_input*, const ss_plugin_field_extract_input*);
} plugin_api;

static void* symbol(plugin_api* api, const char* name, int required) {
	return plugin_symbol(api->handle, name, required);
}

/* Loads the plugin and runs a 3.0.0 host's (Falco 0.35's) load-time checks for an
 * extraction-only plugin. */
static void load_plugin(plugin_api* api, const char* path) {
	memset(api, 0, sizeof *api);
	api->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!api->handle) die(1, "dlopen: %s", dlerror());
	api->get_required_api_version = symbol(api, "get_required_api_version", 1);
	api->get_version = symbol(api, "get_version", 1);
	api->get_name = symbol(api, "get_name", 1);
	api->get_description = symbol(api, "get_description", 1);
	api->get_contact = symbol(api, "get_contact", 1);
	api->init = symbol(api, "init", 1);
	api->destroy = symbol(api, "destroy", 1);
	api->get_last_error = symbol(api, "get_last_error", 1);
	api->get_fields = symbol(api, "get_fields", 1);
	api->extract_fields = symbol(api, "extract_fields", 1);
	api->get_extract_event_sources = symbol(api, "get_extract_event_sources", 0);
	api->get_init_schema = symbol(api, "get_init_schema", 0);
	const char* sourcing[] = {"open", "close", "next_batch", "get_id", "get_event_source"};
	for (int i = 0; i < 5; i++)
		if (symbol(api, sourcing[i], 0)) die(2, "an extraction-only plugin exports plugin_%s", sourcing[i]);

	unsigned maj, min, patch;
	const char* req = api->get_required_api_version();
	if (!req || sscanf(req, "%u.%u.%u", &maj, &min, &patch) != 3) die(2, "bad required API version");
	if (maj != 3 || min > 0 || patch > 0) die(2, "a 3.0.0 host refuses API %s", req);
	const char* v = api->get_version();
	if (!v || sscanf(v, "%u.%u.%u", &maj, &min, &patch) != 3) die(2, "version '%s' is not X.Y.Z", v ? v : "");
	const char* texts[] = {api->get_name(), api->get_description(), api->get_contact()};
	for (int i = 0; i < 3; i++)
		if (!texts[i] || !*texts[i]) die(2, "empty name/description/contact");
	const char* fields = api->get_fields();
	if (!fields || fields[0] != '[') die(2, "plugin_get_fields is not a JSON array");
}

/* A JSON string of n bytes; bytes >= 0x80 as \u00XX (byte-exact, as the golden files). */
static void json_bytes(FILE* out, const char* s, size_t n) {
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)s[i];
		if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f) fprintf(out, "\\u%04x", c);
		else fputc(c, out);
	}
	fputc('"', out);
}

static void json_string(FILE* out, const char* s) { json_bytes(out, s, s ? strlen(s) : 0); }

typedef struct spec {
	const char* text;
	char* name;
	char* arg; /* NULL without brackets */
	uint32_t field_id;
} spec;

/* The field_id of `name`: its index in the fields JSON (good enough for a test host; the
 * JSON itself is checked by the Python tests). */
static int field_id(const char* fields, const char* name, uint32_t* id) {
	char needle[256];
	snprintf(needle, sizeof needle, "\"name\":\"%s\"", name);
	*id = 0;
	for (const char* p = fields; (p = strstr(p, "\"name\":\"")); p++, (*id)++)
		if (strncmp(p, needle, strlen(needle)) == 0) return 0;
	return -1;
}

static void parse_spec(const char* fields, const char* text, spec* sp) {
	sp->text = text;
	sp->name = strdup(text);
	sp->arg = NULL;
	char* br = strchr(sp->name, '[');
	if (br) {
		*br = '\0';
		size_t n = strlen(br + 1);
		if (n == 0 || br[n] != ']') die(1, "bad field spec '%s'", text);
		br[n] = '\0';
		sp->arg = br + 1;
	}
	if (field_id(fields, sp->name, &sp->field_id) != 0) die(1, "unknown field '%s'", sp->name);
}

/* One plugin event per non-empty line, in one 8-byte aligned buffer each. */
typedef struct event {
	ss_plugin_event* evt;
	long line;
} event;

static event* read_events(const char* path, uint64_t ts, const char* ts_path, uint16_t type, int keep_empty,
                          size_t* count) {
	FILE* f = fopen(path, "rb");
	if (!f) die(1, "cannot open %s", path);
	FILE* tsf = ts_path ? fopen(ts_path, "r") : NULL;
	if (ts_path && !tsf) die(1, "cannot open %s", ts_path);
	size_t cap = 1024, n = 0;
	event* evs = malloc(cap * sizeof *evs);
	char* line = NULL;
	size_t line_cap = 0;
	ssize_t len;
	long number = 0;
	while ((len = getline(&line, &line_cap, f)) >= 0) {
		number++;
		if (len > 0 && line[len - 1] == '\n') len--;
		if (len == 0 && !keep_empty) continue;
		if (tsf && fscanf(tsf, "%" SCNu64, &ts) != 1) die(1, "%s: no timestamp for line %ld", ts_path, number);
		if (n == cap) evs = realloc(evs, (cap *= 2) * sizeof *evs);
		uint32_t data_len = (uint32_t)len, id_len = 4, plugin_id = 999;
		uint8_t* e = aligned_alloc(8, (K8A_EVENT_PAYLOAD_OFFSET + data_len + 7) / 8 * 8);
		ss_plugin_event hdr = {.ts = ts, .tid = UINT64_MAX, .len = K8A_EVENT_PAYLOAD_OFFSET + data_len,
		                       .type = type, .nparams = 2};
		memcpy(e, &hdr, sizeof hdr);
		memcpy(e + 26, &id_len, 4);
		memcpy(e + 30, &data_len, 4);
		memcpy(e + 34, &plugin_id, 4);
		memcpy(e + K8A_EVENT_PAYLOAD_OFFSET, line, data_len);
		evs[n].evt = (ss_plugin_event*)e;
		evs[n++].line = number;
	}
	free(line);
	fclose(f);
	if (tsf) fclose(tsf);
	*count = n;
	return evs;
}

/* One extract call for one field, with the inputs filled as libsinsp fills them. */
static ss_plugin_rc extract_one(const plugin_api* api, ss_plugin_t* st, const ss_plugin_event_input* ei,
                                const spec* sp, ss_plugin_field_extract_input* in, ss_plugin_extract_field* f) {
	memset(f, 0, sizeof *f);
	f->field_id = sp->field_id;
	f->field = sp->name;
	f->ftype = K8A_FIELD_TYPE_STRING;
	f->arg_index = UINT64_MAX; /* what newer hosts pass without an index */
	f->arg_present = sp->arg != NULL;
	f->arg_key = sp->arg;
	f->res_len = 0xdeadbeef; /* the host never initialises it */
	in->num_fields = 1;
	in->fields = f;
	return api->extract_fields(st, ei, in);
}

static double thread_cpu_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_info(const plugin_api* api, ss_plugin_schema_type stype, const char* schema) {
	printf("{\"name\":");
	json_string(stdout, api->get_name());
	printf(",\"version\":");
	json_string(stdout, api->get_version());
	printf(",\"api\":");
	json_string(stdout, api->get_required_api_version());
	printf(",\"description\":");
	json_string(stdout, api->get_description());
	printf(",\"contact\":");
	json_string(stdout, api->get_contact());
	printf(",\"fields\":");
	json_string(stdout, api->get_fields());
	printf(",\"extract_sources\":");
	if (api->get_extract_event_sources) json_string(stdout, api->get_extract_event_sources());
	else printf("null");
	printf(",\"schema_type\":%d,\"schema\":", (int)stype);
	json_string(stdout, schema);
	printf("}\n");
}

static void usage(void) {
	fputs("usage: json_host --info PLUGIN.so\n"
	      "       json_host [-c CONFIG] [-E] [-s TS | -S TS_FILE] [-T TYPE] [-b ROUNDS] [-f SPECS_FILE] PLUGIN.so LINES_FILE "
	      "[FIELD_SPEC ...]\n",
	      stderr);
	exit(1);
}

int main(int argc, char** argv) {
	const char *config = "", *specs_file = NULL, *ts_file = NULL;
	uint64_t ts = 1700000000000000000ull;
	unsigned type = K8A_EVENT_TYPE_PLUGIN;
	int info = 0, keep_empty = 0;
	long rounds = 0; /* 0: one pass with output */
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char* next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--info")) info = 1;
		else if (!strcmp(argv[i], "-E")) keep_empty = 1;
		else if (!strcmp(argv[i], "-c") && next) config = argv[++i];
		else if (!strcmp(argv[i], "-s") && next) ts = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-S") && next) ts_file = argv[++i];
		else if (!strcmp(argv[i], "-T") && next) type = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "-b") && next) rounds = atol(argv[++i]);
		else if (!strcmp(argv[i], "-f") && next) specs_file = argv[++i];
		else usage();
	}
	if (i >= argc || (!info && i + 1 >= argc)) usage();
	plugin_api api;
	load_plugin(&api, argv[i++]);
	ss_plugin_schema_type stype = SS_PLUGIN_SCHEMA_NONE;
	const char* schema = api.get_init_schema ? api.get_init_schema(&stype) : NULL;
	ss_plugin_init_input* init_in = guarded_alloc(sizeof(ss_plugin_init_input));
	/* Falco turns an empty config into "{}" when the plugin has a JSON schema */
	init_in->config = (!config[0] && stype == SS_PLUGIN_SCHEMA_JSON) ? "{}" : config;
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	ss_plugin_t* st = api.init(init_in, &rc);
	if (rc != SS_PLUGIN_SUCCESS) {
		printf("{\"end\":\"init-failure\",\"error\":");
		json_string(stdout, st ? api.get_last_error(st) : "(no state)");
		printf("}\n");
		if (st) api.destroy(st);
		return 2;
	}
	if (info) {
		print_info(&api, stype, schema ? schema : "");
		api.destroy(st);
		return dlclose(api.handle) == 0 ? 0 : 1;
	}

	const char* lines_file = argv[i++];
	int nspecs = 0;
	spec* specs = calloc((size_t)argc + 1, sizeof(spec));
	for (; i < argc; i++) parse_spec(api.get_fields(), argv[i], &specs[nspecs++]);
	if (specs_file) {
		FILE* f = fopen(specs_file, "r");
		if (!f) die(1, "cannot open %s", specs_file);
		char buf[4096];
		while (fgets(buf, sizeof buf, f)) {
			buf[strcspn(buf, "\r\n")] = '\0';
			if (!buf[0]) continue;
			specs = realloc(specs, sizeof(spec) * (size_t)(nspecs + 1));
			parse_spec(api.get_fields(), strdup(buf), &specs[nspecs++]);
		}
		fclose(f);
	}
	size_t count;
	event* evs = read_events(lines_file, ts, ts_file, (uint16_t)type, keep_empty, &count);
	ss_plugin_field_extract_input* in = guarded_alloc(sizeof(ss_plugin_field_extract_input));
	ss_plugin_extract_field* f = guarded_alloc(sizeof(ss_plugin_extract_field));
	uint64_t num = 0, value_bytes = 0;
	if (rounds > 0) {
		uint64_t (*malloc_calls)(void) = (uint64_t(*)(void))dlsym(RTLD_DEFAULT, "k8a_malloc_calls");
		uint64_t allocs = 0;
		double cpu0 = thread_cpu_s();
		for (long r = 0; r < rounds; r++) {
			if (r == 1 && malloc_calls) allocs = malloc_calls();
			for (size_t k = 0; k < count; k++) {
				ss_plugin_event_input ei = {.evt = evs[k].evt, .evtnum = ++num, .evtsrc = "k8s_audit"};
				for (int s = 0; s < nspecs; s++)
					if (extract_one(&api, st, &ei, &specs[s], in, f) == SS_PLUGIN_SUCCESS && f->res_len)
						value_bytes += strlen(f->res.str[0]); /* read as Falco reads it */
			}
		}
		double cpu = thread_cpu_s() - cpu0;
		if (malloc_calls) allocs = malloc_calls() - allocs; /* before printf allocates its buffer */
		printf("{\"end\":\"bench\",\"events\":%" PRIu64 ",\"value_bytes\":%" PRIu64 ",\"thread_cpu_s\":%.6f", num,
		       value_bytes, cpu);
		if (malloc_calls && rounds > 1) printf(",\"allocations\":%" PRIu64, allocs);
		printf("}\n");
	} else {
		for (size_t k = 0; k < count; k++) {
			ss_plugin_event_input ei = {.evt = evs[k].evt, .evtnum = ++num, .evtsrc = "k8s_audit"};
			printf("{\"line\":%ld,\"values\":{", evs[k].line);
			for (int s = 0; s < nspecs; s++) {
				rc = extract_one(&api, st, &ei, &specs[s], in, f);
				if (s) printf(",");
				json_string(stdout, specs[s].text);
				printf(":");
				if (rc != SS_PLUGIN_SUCCESS) printf("{\"rc\":%d}", (int)rc);
				else if (f->res_len == 0) printf("null");
				else if (f->res_len == 1) json_string(stdout, f->res.str[0]);
				else die(2, "%s gave %" PRIu64 " values for a non-list field", specs[s].text, f->res_len);
			}
			printf("}}\n");
		}
	}
	fflush(stdout);
	api.destroy(st);
	if (dlclose(api.handle) != 0) die(1, "dlclose: %s", dlerror());
	for (size_t k = 0; k < count; k++) free(evs[k].evt);
	free(evs);
	return 0;
}
