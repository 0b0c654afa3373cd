/*
 * k8a_host: the project's Falco-like test host. It loads a plugin the way Falco does
 * (dlopen RTLD_LOCAL in a process without Python, dlsym of plugin_* symbols), runs the
 * load-time checks, then init/open, next_batch until EOF and one extract call per field
 * per event, with host input structs of their API 3.0.0 size ending at a guard page (a
 * read past them faults instead of passing silently).
 *
 * Output: one JSON object per event on stdout:
 *   {"num":N,"ts":T,"len":L,"values":{"spec":"v" | ["a","b"] | null, ...}}
 * and a final {"end":"eof"|"limit"|"failure",...} line with counts and metrics, the number
 * of next_batch calls, the longest one ("max_batch_ms") and the process' peak RSS so far
 * ("maxrss_kb").
 * Benchmark options (off by default, so the output above is unchanged without them):
 *   -a  each event record also carries "arrival_ns": CLOCK_REALTIME when next_batch
 *       returned it (frame-to-event latency, against a stamp the server put in the event);
 *   -b  no per-event output (the fields are still extracted); the end record also carries
 *       "seconds" (open returned -> loop ended), "first_s" / "last_s" (open returned ->
 *       first / last event), and the CPU time of the process and of this (Falco's) thread.
 * Test options:
 *   --opens N  open, run and close N instances one after the other in one plugin init (an
 *       end record each), as a long-running Falco that restarts its capture does.
 *   -r  before the normal pass over a batch, extract every field of its events from the
 *       last to the first (values discarded), as a host that revisits events would: the
 *       printed values must not change.
 * Exit codes: 0 ok, 1 usage/load error, 2 check failed, 3 plugin runtime failure.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "plugin_abi.h"
#define HOST_NAME "k8a_host"
#include "host_common.h"

typedef struct plugin_api {
	void* handle;
	const char* (*get_required_api_version)(void);
	const char* (*get_version)(void);
	const char* (*get_name)(void);
	const char* (*get_description)(void);
	const char* (*get_contact)(void);
	uint32_t (*get_id)(void);
	const char* (*get_event_source)(void);
	const char* (*get_fields)(void);
	const char* (*get_init_schema)(ss_plugin_schema_type*);
	ss_plugin_t* (*init)(const ss_plugin_init_input*, ss_plugin_rc*);
	void (*destroy)(ss_plugin_t*);
	const char* (*get_last_error)(ss_plugin_t*);
	ss_instance_t* (*open)(ss_plugin_t*, const char*, ss_plugin_rc*);
	void (*close)(ss_plugin_t*, ss_instance_t*);
	ss_plugin_rc (*next_batch)(ss_plugin_t*, ss_instance_t*, uint32_t*, ss_plugin_event***);
	const char* (*list_open_params)(ss_plugin_t*, ss_plugin_rc*);
	const char* (*get_progress)(ss_plugin_t*, ss_instance_t*, uint32_t*);
	const char* (*event_to_string)(ss_plugin_t*, const ss_plugin_event_input*);
	ss_plugin_rc (*extract_fields)(ss_plugin_t*, const ss_plugin_event_input*, const ss_plugin_field_extract_input*);
	ss_plugin_metric* (*get_metrics)(ss_plugin_t*, uint32_t*);
} plugin_api;

static int g_quiet;
/* With tests/host/malloc_count.c preloaded: malloc calls in the whole process. */
static uint64_t (*g_malloc_calls)(void);
static uint64_t g_bench_bytes; /* bench mode: bytes of the values read, as Falco reads them */

#define REQUIRED(api, name) load_symbol(api, #name, (void**)&(api)->name, 1)
#define OPTIONAL(api, name) load_symbol(api, #name, (void**)&(api)->name, 0)

static void load_symbol(plugin_api* api, const char* name, void** slot, int required) {
	*slot = plugin_symbol(api->handle, name, required);
}

static void load_plugin(plugin_api* api, const char* path) {
	memset(api, 0, sizeof *api);
	api->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!api->handle) die(1, "dlopen: %s", dlerror());
	REQUIRED(api, get_required_api_version);
	REQUIRED(api, get_version);
	REQUIRED(api, get_name);
	REQUIRED(api, get_description);
	REQUIRED(api, get_contact);
	REQUIRED(api, init);
	REQUIRED(api, destroy);
	REQUIRED(api, get_last_error);
	/* sourcing + extraction capabilities, as this plugin declares both */
	REQUIRED(api, get_id);
	REQUIRED(api, get_event_source);
	REQUIRED(api, open);
	REQUIRED(api, close);
	REQUIRED(api, next_batch);
	REQUIRED(api, get_fields);
	REQUIRED(api, extract_fields);
	OPTIONAL(api, get_init_schema);
	OPTIONAL(api, list_open_params);
	OPTIONAL(api, get_progress);
	OPTIONAL(api, event_to_string);
	OPTIONAL(api, get_metrics);
}

/* The load-time checks of a 3.0.0 host (Falco 0.35), which are the strictest. */
static void check_plugin(const plugin_api* api) {
	unsigned maj, min, patch;
	const char* req = api->get_required_api_version();
	if (!req || sscanf(req, "%u.%u.%u", &maj, &min, &patch) != 3) die(2, "bad required API version");
	if (maj != 3 || min > 0 || (min == 0 && patch > 0)) die(2, "a 3.0.0 host refuses API %s", req);
	const char* v = api->get_version();
	if (!v || sscanf(v, "%u.%u.%u", &maj, &min, &patch) != 3) die(2, "version '%s' is not X.Y.Z", v ? v : "");
	const char* texts[] = {api->get_name(), api->get_description(), api->get_contact(), api->get_event_source()};
	for (int i = 0; i < 4; i++)
		if (!texts[i] || !*texts[i]) die(2, "empty name/description/contact/event source");
	if (api->get_id() == 0) die(2, "a sourcing plugin with an event source needs a non-zero id");
	if (strcmp(api->get_event_source(), "syscall") == 0) die(2, "event source 'syscall' is reserved");
	const char* fields = api->get_fields();
	if (!fields || fields[0] != '[') die(2, "plugin_get_fields is not a JSON array");
}

static void json_string(FILE* out, const char* s) {
	fputc('"', out);
	for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
		unsigned c = *p;
		if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
		else if (c < 0x20) fprintf(out, "\\u%04x", c);
		else if (c < 0x80) fputc(c, out);
		else {
			/* valid UTF-8 sequences pass; a stray byte is written as the code point of
			 * its value, as the corpus' golden files show it */
			int n = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
			int ok = n > 0;
			for (int i = 1; ok && i < n; i++) ok = (p[i] & 0xC0) == 0x80;
			if (ok) {
				fwrite(p, 1, n, out);
				p += n - 1;
			} else
				fprintf(out, "\\u%04x", c);
		}
	}
	fputc('"', out);
}

typedef struct spec {
	char* text;     /* as given: name or name[arg] */
	char* name;
	char* arg;      /* NULL without brackets */
	uint32_t field_id;
	int is_list, is_index;
} spec;

/* Finds "name":"<field>" in the fields JSON and reads isList / isIndex of that entry.
 * Good enough for a test host: the JSON itself is validated by the Python tests. */
static int lookup_field(const char* fields, const char* name, spec* sp) {
	char needle[256];
	snprintf(needle, sizeof needle, "\"name\":\"%s\"", name);
	uint32_t id = 0;
	for (const char* p = fields; (p = strstr(p, "\"name\":\"")); p++, id++) {
		if (strncmp(p, needle, strlen(needle)) != 0) continue;
		const char* end = strchr(p, '}');
		const char* arg = strstr(p, "\"arg\"");
		if (arg && arg < end) end = strchr(end + 1, '}');
		size_t n = (size_t)(end - p);
		char* entry = strndup(p, n);
		sp->field_id = id;
		sp->is_list = strstr(entry, "\"isList\":true") != NULL;
		sp->is_index = strstr(entry, "\"isIndex\":true") != NULL;
		free(entry);
		return 0;
	}
	return -1;
}

static void parse_spec(const char* fields, const char* text, spec* sp) {
	memset(sp, 0, sizeof *sp);
	sp->text = strdup(text);
	sp->name = strdup(text);
	char* br = strchr(sp->name, '[');
	if (br) {
		*br = '\0';
		size_t n = strlen(br + 1);
		if (n == 0 || br[n] != ']') die(1, "bad field spec '%s'", text);
		br[n] = '\0';
		sp->arg = br + 1;
	}
	if (lookup_field(fields, sp->name, sp) != 0) die(1, "unknown field '%s'", sp->name);
}

typedef struct options {
	const char* plugin;
	const char* config;
	const char* params;
	long max_events;
	double time_limit;
	int cycles;
	int info;
	int batch_sleep_ms; /* a slow Falco: pause after each batch */
	long alloc_from;    /* with malloc_count.c preloaded: count allocations from this event on */
	int metrics;
	int arrival;        /* -a: "arrival_ns" in each event record */
	int bench;          /* -b: no per-event output; timings in the end record */
	int revisit;        /* -r: extract each batch backwards first */
	int opens;          /* --opens N: open, replay and close N instances in turn in one init */
	spec* specs;
	int nspecs;
} options;

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t realtime_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_s(int who, int sys) {
	struct rusage ru;
	if (getrusage(who, &ru) != 0) return -1;
	struct timeval tv = sys ? ru.ru_stime : ru.ru_utime;
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static void print_metrics(const plugin_api* api, ss_plugin_t* st) {
	if (!api->get_metrics) return;
	uint32_t n = 0;
	ss_plugin_metric* m = api->get_metrics(st, &n);
	printf("\"metrics\":{");
	for (uint32_t i = 0; i < n; i++) {
		if (i) printf(",");
		json_string(stdout, m[i].name);
		if (m[i].value_type == SS_PLUGIN_METRIC_VALUE_TYPE_U64) printf(":%" PRIu64, m[i].value.u64);
		else if (m[i].value_type == SS_PLUGIN_METRIC_VALUE_TYPE_D) printf(":%g", m[i].value.d);
		else printf(":%u", m[i].value.u32);
	}
	printf("}");
}

/* Extracts every spec of one event, one extract call per spec as libsinsp does. */
/* One extract call for one field, with the inputs filled as libsinsp fills them. */
static ss_plugin_rc extract_one(const plugin_api* api, ss_plugin_t* st, const ss_plugin_event_input* ei,
                                const spec* sp, ss_plugin_field_extract_input* in, ss_plugin_extract_field* f) {
	memset(f, 0, sizeof *f);
	f->field_id = sp->field_id;
	f->field = sp->name;
	f->ftype = K8A_FIELD_TYPE_STRING;
	f->flist = sp->is_list;
	f->arg_index = UINT64_MAX; /* what newer hosts pass without an index */
	if (sp->arg) {
		f->arg_present = 1;
		if (sp->is_index) f->arg_index = strtoull(sp->arg, NULL, 10);
		else f->arg_key = sp->arg;
	}
	f->res_len = 0xdeadbeef; /* the host never initialises it */
	in->num_fields = 1;
	in->fields = f;
	return api->extract_fields(st, ei, in);
}

/* Extracts every spec of one event, one extract call per spec as libsinsp does, and
 * prints them (not in bench mode, which only reads each value as Falco would). */
static int extract_event(const plugin_api* api, ss_plugin_t* st, ss_plugin_event* evt, uint64_t num,
                         const options* o, ss_plugin_field_extract_input* in, ss_plugin_extract_field* f,
                         uint64_t arrival_ns) {
	ss_plugin_event_input ei = {.evt = evt, .evtnum = num, .evtsrc = "k8s_audit"};
	if (o->bench) {
		for (int i = 0; i < o->nspecs; i++)
			if (extract_one(api, st, &ei, &o->specs[i], in, f) == SS_PLUGIN_SUCCESS)
				for (uint64_t k = 0; k < f->res_len; k++) g_bench_bytes += strlen(f->res.str[k]);
		return 0;
	}
	printf("{\"num\":%" PRIu64 ",\"ts\":%" PRIu64 ",\"len\":%u,", num, evt->ts, evt->len - K8A_EVENT_PAYLOAD_OFFSET);
	if (o->arrival) printf("\"arrival_ns\":%" PRIu64 ",", arrival_ns);
	printf("\"values\":{");
	for (int i = 0; i < o->nspecs; i++) {
		const spec* sp = &o->specs[i];
		ss_plugin_rc rc = extract_one(api, st, &ei, sp, in, f);
		if (i) printf(",");
		json_string(stdout, sp->text);
		printf(":");
		if (rc != SS_PLUGIN_SUCCESS || f->res_len == 0) {
			printf("null");
			continue;
		}
		if (!sp->is_list && f->res_len != 1) {
			fprintf(stderr, "k8a_host: %s gave %" PRIu64 " values for a non-list field\n", sp->text, f->res_len);
			return -1;
		}
		if (sp->is_list) printf("[");
		for (uint64_t k = 0; k < f->res_len; k++) {
			if (k) printf(",");
			json_string(stdout, f->res.str[k]);
		}
		if (sp->is_list) printf("]");
	}
	printf("}}\n");
	return 0;
}

/* Falco's checks on every event of a batch (spec section 7). */
static void check_event(const ss_plugin_event* e) {
	uint32_t lens[2], id;
	memcpy(lens, (const uint8_t*)e + 26, 8);
	memcpy(&id, (const uint8_t*)e + 34, 4);
	if (e->type != 322 || e->nparams != 2) die(3, "malformed plugin event (type %u, %u params)", e->type, e->nparams);
	if (id != 0 && id != 22) die(3, "event carries plugin id %u", id);
	if (lens[0] != 4 || e->len != K8A_EVENT_PAYLOAD_OFFSET + lens[1]) die(3, "inconsistent event lengths");
	if (((uintptr_t)e) % 8) die(3, "event not 8-byte aligned");
}

/* Threads and sockets left in the process, to show that close/destroy clean up. */
static int count_entries(const char* dir, const char* link_prefix) {
	DIR* d = opendir(dir);
	if (!d) return -1;
	int n = 0;
	struct dirent* e;
	char path[512], target[256];
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		if (link_prefix) {
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			ssize_t len = readlink(path, target, sizeof target - 1);
			if (len < 0) continue;
			target[len] = '\0';
			if (strncmp(target, link_prefix, strlen(link_prefix)) != 0) continue;
		}
		n++;
	}
	closedir(d);
	return n;
}

/* A "Vm...: N kB" line of /proc/self/status: VmRSS now, VmHWM the peak. (getrusage's
 * ru_maxrss would count the parent's RSS at fork: it survives exec.) */
static long status_kb(const char* key) {
	FILE* f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	size_t n = strlen(key);
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, n) == 0 && line[n] == ':' && sscanf(line + n + 1, "%ld", &kb) == 1) break;
	if (f) fclose(f);
	return kb;
}

/* One open instance: open, next_batch until the end, the end record, close. Returns the
 * status, or -1 when open failed. */
static int run_instance(const plugin_api* api, ss_plugin_t* st, const options* o, double* close_s) {
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	ss_instance_t* h = api->open(st, o->params, &rc);
	if (rc != SS_PLUGIN_SUCCESS) {
		printf("{\"end\":\"open-failure\",\"error\":");
		json_string(stdout, api->get_last_error(st));
		printf("}\n");
		api->close(st, h);
		return -1;
	}

	ss_plugin_field_extract_input* in = guarded_alloc(sizeof(ss_plugin_field_extract_input));
	ss_plugin_extract_field* field = guarded_alloc(sizeof(ss_plugin_extract_field));
	g_bench_bytes = 0;
	uint64_t num = 0, batches = 0, timeouts = 0, calls = 0;
	double max_call_s = 0;
	const char* end = "eof";
	int status = 0;
	double deadline = o->time_limit > 0 ? now_s() + o->time_limit : 0;
	/* Allocations from the event numbered `o->alloc_from` on (warm-up excluded) to the end. */
	uint64_t allocs_at_start = 0;
	int counting = 0;
	double opened = now_s(), first = 0, last = 0;
	double cpu_user0 = cpu_s(RUSAGE_SELF, 0), cpu_sys0 = cpu_s(RUSAGE_SELF, 1);
	double thread_cpu0 = cpu_s(RUSAGE_THREAD, 0) + cpu_s(RUSAGE_THREAD, 1);
	for (;;) {
		if (o->max_events >= 0 && num >= (uint64_t)o->max_events) {
			end = "limit";
			break;
		}
		if (deadline && now_s() > deadline) {
			end = "time";
			break;
		}
		uint32_t n = 0;
		ss_plugin_event** evts = NULL;
		double call_start = now_s();
		rc = api->next_batch(st, h, &n, &evts);
		double call_s = now_s() - call_start;
		if (call_s > max_call_s) max_call_s = call_s;
		calls++;
		uint64_t arrival_ns = o->arrival ? realtime_ns() : 0;
		if (rc == SS_PLUGIN_SUCCESS && n == 0) die(3, "next_batch returned SUCCESS with 0 events");
		if (o->bench && n > 0) {
			last = now_s();
			if (num == 0) first = last;
		}
		for (uint32_t j = n; o->revisit && j-- > 0;) {
			ss_plugin_event_input ei = {.evt = evts[j], .evtnum = num + j + 1, .evtsrc = "k8s_audit"};
			for (int k = 0; k < o->nspecs; k++) extract_one(api, st, &ei, &o->specs[k], in, field);
		}
		for (uint32_t i = 0; i < n; i++) {
			if (g_malloc_calls && !counting && num >= o->alloc_from) {
				allocs_at_start = g_malloc_calls();
				counting = 1;
			}
			check_event(evts[i]);
			if (o->max_events >= 0 && num >= (uint64_t)o->max_events) break;
			if (extract_event(api, st, evts[i], ++num, o, in, field, arrival_ns) != 0) return 3;
		}
		batches += n > 0;
		if (n > 0 && o->batch_sleep_ms > 0) {
			struct timespec pause = {o->batch_sleep_ms / 1000, (o->batch_sleep_ms % 1000) * 1000000L};
			nanosleep(&pause, NULL);
		}
		if (rc == SS_PLUGIN_TIMEOUT) {
			timeouts++;
			fflush(stdout); /* a live stream paused: what came so far is readable while the host runs */
		} else if (rc == SS_PLUGIN_EOF) break;
		else if (rc != SS_PLUGIN_SUCCESS) {
			end = "failure";
			status = 3;
			break;
		}
	}
	uint64_t allocs = counting ? g_malloc_calls() - allocs_at_start : 0;
	uint32_t pct = 0;
	if (api->get_progress) api->get_progress(st, h, &pct);
	long maxrss_kb = status_kb("VmHWM");
	printf("{\"end\":\"%s\",\"events\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"timeouts\":%" PRIu64
	       ",\"calls\":%" PRIu64 ",\"max_batch_ms\":%.3f,\"maxrss_kb\":%ld,\"progress\":%u,",
	       end, num, batches, timeouts, calls, max_call_s * 1e3, maxrss_kb, pct);
	if (counting) printf("\"allocations\":%" PRIu64 ",\"allocations_from\":%ld,", allocs, o->alloc_from);
	if (o->bench)
		printf("\"value_bytes\":%" PRIu64 ",\"seconds\":%.6f,\"first_s\":%.6f,\"last_s\":%.6f,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,"
		       "\"thread_cpu_s\":%.3f,",
		       g_bench_bytes, now_s() - opened, num ? first - opened : 0, num ? last - opened : 0,
		       cpu_s(RUSAGE_SELF, 0) - cpu_user0, cpu_s(RUSAGE_SELF, 1) - cpu_sys0,
		       cpu_s(RUSAGE_THREAD, 0) + cpu_s(RUSAGE_THREAD, 1) - thread_cpu0);
	if (status) {
		printf("\"error\":");
		json_string(stdout, api->get_last_error(st));
		printf(",");
	}
	print_metrics(api, st);
	printf("}\n");
	fflush(stdout);
	guarded_free(in, sizeof(ss_plugin_field_extract_input));
	guarded_free(field, sizeof(ss_plugin_extract_field));
	double t0 = now_s();
	api->close(st, h);
	*close_s = now_s() - t0;
	return status;
}

static int run_once(const options* o) {
	plugin_api api;
	load_plugin(&api, o->plugin);
	check_plugin(&api);
	ss_plugin_schema_type stype = SS_PLUGIN_SCHEMA_NONE;
	const char* schema = api.get_init_schema ? api.get_init_schema(&stype) : NULL;
	for (int i = 0; i < o->nspecs; i++) {
		free(o->specs[i].name);
		const char* text = o->specs[i].text;
		parse_spec(api.get_fields(), text, &o->specs[i]);
	}

	ss_plugin_init_input* init_in = guarded_alloc(sizeof(ss_plugin_init_input));
	/* Falco turns an empty config into "{}" when the plugin has a JSON schema */
	init_in->config = (o->config[0] == '\0' && stype == SS_PLUGIN_SCHEMA_JSON) ? "{}" : o->config;
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	ss_plugin_t* st = api.init(init_in, &rc);
	if (rc != SS_PLUGIN_SUCCESS) {
		const char* err = st ? api.get_last_error(st) : "(no state)";
		printf("{\"end\":\"init-failure\",\"error\":");
		json_string(stdout, err ? err : "");
		printf("}\n");
		if (st) api.destroy(st);
		return 3;
	}
	if (o->info) {
		ss_plugin_rc prc = SS_PLUGIN_FAILURE;
		const char* params = api.list_open_params ? api.list_open_params(st, &prc) : NULL;
		printf("{\"name\":");
		json_string(stdout, api.get_name());
		printf(",\"version\":");
		json_string(stdout, api.get_version());
		printf(",\"api\":");
		json_string(stdout, api.get_required_api_version());
		printf(",\"id\":%u,\"source\":", api.get_id());
		json_string(stdout, api.get_event_source());
		printf(",\"description\":");
		json_string(stdout, api.get_description());
		printf(",\"contact\":");
		json_string(stdout, api.get_contact());
		printf(",\"schema_type\":%d,\"schema\":", (int)stype);
		json_string(stdout, schema ? schema : "");
		printf(",\"open_params\":");
		json_string(stdout, params && prc == SS_PLUGIN_SUCCESS ? params : "");
		printf(",\"fields\":");
		json_string(stdout, api.get_fields());
		printf("}\n");
		api.destroy(st);
		return 0;
	}

	int status = 0;
	double close_s = 0;
	for (int k = 0; k < o->opens && status == 0; k++) status = run_instance(&api, st, o, &close_s);
	if (status < 0) {
		api.destroy(st);
		return 3;
	}
	api.destroy(st);
	if (dlclose(api.handle) != 0) die(1, "dlclose: %s", dlerror());
	guarded_free(init_in, sizeof(ss_plugin_init_input));
	/* A joined thread may take a moment to leave the kernel's task list. */
	int threads = count_entries("/proc/self/task", NULL);
	for (int i = 0; i < 100 && threads > 1; i++) {
		struct timespec pause = {0, 2000000L};
		nanosleep(&pause, NULL);
		threads = count_entries("/proc/self/task", NULL);
	}
	printf("{\"closed\":true,\"close_seconds\":%.3f,\"threads\":%d,\"sockets\":%d,\"rss_kb\":%ld}\n", close_s,
	       threads, count_entries("/proc/self/fd", "socket:"), status_kb("VmRSS"));
	fflush(stdout);
	return status;
}

static void usage(void) {
	fputs("usage: k8a_host [-c CONFIG] [-p OPEN_PARAMS] [-n MAX] [-t SECONDS] [-s BATCH_SLEEP_MS]\n"
	      "                [--cycles N] [--opens N] [--info] [-f SPECS_FILE] [-a] [-b] [-r] [-m N] PLUGIN.so [FIELD_SPEC ...]\n"
	      "  -a  add \"arrival_ns\" (CLOCK_REALTIME at next_batch return) to each event record\n"
	      "  -b  benchmark: no per-event output (the fields given are still extracted); timings and CPU\n"
	      "      in the end record\n"
	      "  --opens N  open, run and close N instances in turn in one init (an end record each)\n"
	      "  -r  extract each batch's events backwards first (values discarded), then as usual\n"
	      "  -m N  with tests/host/malloc_count.so preloaded: \"allocations\" from event N to the end\n",
	      stderr);
	exit(1);
}

int main(int argc, char** argv) {
	options o = {.config = "", .params = "", .max_events = -1, .cycles = 1, .opens = 1};
	g_malloc_calls = (uint64_t(*)(void))dlsym(RTLD_DEFAULT, "k8a_malloc_calls");
	char** names = calloc((size_t)argc + 1, sizeof(char*));
	int nnames = 0;
	const char* specs_file = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char* a = argv[i];
		const char* next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-c") && next) o.config = argv[++i];
		else if (!strcmp(a, "-p") && next) o.params = argv[++i];
		else if (!strcmp(a, "-n") && next) o.max_events = atol(argv[++i]);
		else if (!strcmp(a, "-t") && next) o.time_limit = atof(argv[++i]);
		else if (!strcmp(a, "-f") && next) specs_file = argv[++i];
		else if (!strcmp(a, "--cycles") && next) o.cycles = atoi(argv[++i]);
		else if (!strcmp(a, "--opens") && next) o.opens = atoi(argv[++i]);
		else if (!strcmp(a, "-s") && next) o.batch_sleep_ms = atoi(argv[++i]);
		else if (!strcmp(a, "-m") && next) o.alloc_from = atol(argv[++i]);
		else if (!strcmp(a, "--info")) o.info = 1;
		else if (!strcmp(a, "-q")) g_quiet = 1;
		else if (!strcmp(a, "-a")) o.arrival = 1;
		else if (!strcmp(a, "-b")) o.bench = 1;
		else if (!strcmp(a, "-r")) o.revisit = 1;
		else usage();
	}
	if (i >= argc) usage();
	o.plugin = argv[i++];
	for (; i < argc; i++) names[nnames++] = argv[i];
	if (specs_file) {
		FILE* f = fopen(specs_file, "r");
		if (!f) die(1, "cannot open %s", specs_file);
		char line[4096];
		while (fgets(line, sizeof line, f)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (!line[0]) continue;
			names = realloc(names, sizeof(char*) * (size_t)(nnames + 2));
			names[nnames++] = strdup(line);
		}
		fclose(f);
	}
	o.specs = calloc((size_t)nnames + 1, sizeof(spec));
	o.nspecs = nnames;
	for (int k = 0; k < nnames; k++) o.specs[k].text = names[k];
	int status = 0;
	for (int c = 0; c < o.cycles && status == 0; c++) status = run_once(&o);
	return status;
}
