#define _GNU_SOURCE
#include "python_embed.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cpu_check.h"
#include "k8a_static.h" /* K8A_BUILD_* paths of the interpreter the package was built for */

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static int started; /* survives dlclose: the library is linked with -z nodelete */

static int exists(const char* path) {
	struct stat st;
	return stat(path, &st) == 0;
}

/* Directory of this shared object, symlinks resolved, so that a link from
 * /usr/share/falco/plugins/ into site-packages finds the package next to the target. */
static int own_dir(char* out, size_t n) {
	Dl_info info;
	char real[PATH_MAX];
	if (!dladdr((void*)&k8a_python_start, &info) || !info.dli_fname || !realpath(info.dli_fname, real))
		return -1;
	char* slash = strrchr(real, '/');
	if (!slash) return -1;
	*slash = '\0';
	snprintf(out, n, "%s", real);
	return 0;
}

/* Extension modules expect libpython's symbols in the global scope, which a library
 * loaded as a dependency of an RTLD_LOCAL plugin is not: re-open it RTLD_GLOBAL. */
static int promote_libpython(char* err, size_t errlen) {
	Dl_info info;
	if (!dladdr((void*)&Py_IsInitialized, &info) || !info.dli_fname) {
		snprintf(err, errlen, "cannot locate libpython in this process");
		return -1;
	}
	if (!dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) {
		snprintf(err, errlen, "cannot re-open %s globally: %s", info.dli_fname, dlerror());
		return -1;
	}
	return 0;
}

typedef struct search_paths {
	char home[PATH_MAX];
	char items[8][PATH_MAX];
	int count;
} search_paths;

static void add_path(search_paths* p, const char* fmt, const char* a, const char* b) {
	if (p->count >= 8) return;
	snprintf(p->items[p->count], PATH_MAX, fmt, a, b);
	for (int i = 0; i < p->count; i++)
		if (strcmp(p->items[i], p->items[p->count]) == 0) return;
	p->count++;
}

/* Two layouts: a self-contained bundle (K8A_BUNDLE_DIR/ next to the plugin, see
 * k8saudit_ovh/artifact.py), or the package installed in a Python environment. */
static int find_paths(search_paths* p, char* err, size_t errlen) {
	char dir[PATH_MAX], probe[PATH_MAX + 64];
	if (own_dir(dir, sizeof dir) != 0) {
		snprintf(err, errlen, "cannot find the plugin's own location (dladdr/realpath failed)");
		return -1;
	}
	snprintf(probe, sizeof probe, "%s/" K8A_BUNDLE_DIR "/lib/" K8A_PYTHON_LIBDIR "/os.py", dir);
	if (exists(probe)) {
		snprintf(p->home, PATH_MAX, "%s/" K8A_BUNDLE_DIR, dir);
		add_path(p, "%s/" K8A_BUNDLE_DIR "/site-packages", dir, "");
		add_path(p, "%s/" K8A_BUNDLE_DIR "/lib/%s", dir, K8A_PYTHON_LIBDIR);
		add_path(p, "%s/" K8A_BUNDLE_DIR "/lib/%s/lib-dynload", dir, K8A_PYTHON_LIBDIR);
	} else {
		snprintf(p->home, PATH_MAX, "%s", K8A_BUILD_PREFIX);
		/* The package's parent holds the package and, in a normal install, its
		 * dependencies; the build environment's site dirs cover editable installs. */
		char* slash = strrchr(dir, '/');
		if (slash) *slash = '\0';
		add_path(p, "%s%s", dir, "");
		add_path(p, "%s%s", K8A_BUILD_PURELIB, "");
		add_path(p, "%s%s", K8A_BUILD_PLATLIB, "");
		add_path(p, "%s%s", K8A_BUILD_STDLIB, "");
		add_path(p, "%s%s", K8A_BUILD_DYNLOAD, "");
	}
	for (int i = 0; i < p->count; i++) {
		snprintf(probe, sizeof probe, "%s/encodings/__init__.py", p->items[i]);
		if (exists(probe)) return 0;
	}
	snprintf(err, errlen, "no Python %s standard library found for the plugin (looked in %s/" K8A_BUNDLE_DIR "/lib and %s)",
	         K8A_PYTHON_LIBDIR, dir, K8A_BUILD_STDLIB);
	return -1;
}

static int start_interpreter(char* err, size_t errlen) {
	search_paths paths = {0};
	if (find_paths(&paths, err, errlen) != 0) return -1;
	PyConfig cfg;
	/* Isolated: no environment variables, no user site, and no signal handlers, since
	 * Falco owns SIGINT/SIGTERM/SIGHUP. */
	PyConfig_InitIsolatedConfig(&cfg);
	cfg.install_signal_handlers = 0;
	cfg.site_import = 0;
	cfg.write_bytecode = 0;
	cfg.parse_argv = 0;
	PyStatus st = PyConfig_SetBytesString(&cfg, &cfg.home, paths.home);
	cfg.module_search_paths_set = 1;
	for (int i = 0; i < paths.count && !PyStatus_Exception(st); i++) {
		wchar_t* w = Py_DecodeLocale(paths.items[i], NULL);
		if (!w) {
			st = PyStatus_NoMemory();
			break;
		}
		st = PyWideStringList_Append(&cfg.module_search_paths, w);
		PyMem_RawFree(w);
	}
	if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&cfg);
	PyConfig_Clear(&cfg);
	if (PyStatus_Exception(st)) {
		snprintf(err, errlen, "cannot start the embedded Python: %s", st.err_msg ? st.err_msg : "unknown error");
		return -1;
	}
	PyEval_SaveThread(); /* the GIL is taken per call with PyGILState_Ensure */
	return 0;
}

int k8a_python_start(char* err, size_t errlen) {
	int rc = 0;
	pthread_mutex_lock(&start_lock);
	if (!started) {
		rc = k8a_cpu_supported(err, errlen);
		if (rc == 0) rc = promote_libpython(err, errlen);
		/* Loaded from a Python process (ctypes): use its interpreter, never a second one. */
		if (rc == 0 && !Py_IsInitialized()) rc = start_interpreter(err, errlen);
		started = rc == 0;
	}
	pthread_mutex_unlock(&start_lock);
	return rc;
}

void k8a_python_error(const char* what, char* err, size_t errlen) {
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	PyObject* text = value ? PyObject_Str(value) : NULL;
	const char* msg = text ? PyUnicode_AsUTF8(text) : NULL;
	snprintf(err, errlen, "%s: %s", what, msg ? msg : "unknown Python error");
	Py_XDECREF(text);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	PyErr_Clear();
}
