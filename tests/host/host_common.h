/* What the C test hosts share: fatal errors, host input structs that end at a guard page,
 * and plugin symbol lookup. Each host defines HOST_NAME before including this file. */
#pragma once
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static void die(int code, const char* fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, HOST_NAME ": ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(code);
}

/* A zeroed struct of `size` bytes that ends exactly where a PROT_NONE page begins: a read
 * past it faults instead of passing silently. */
static void* guarded_alloc(size_t size) {
	long page = sysconf(_SC_PAGESIZE);
	uint8_t* base = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || mprotect(base + page, page, PROT_NONE) != 0) die(1, "mmap failed");
	return base + page - size;
}

static inline void guarded_free(void* p, size_t size) {
	long page = sysconf(_SC_PAGESIZE);
	munmap((uint8_t*)p + size - page, 2 * page);
}

/* plugin_<name> in the loaded library; a missing required one fails the load checks. */
static void* plugin_symbol(void* handle, const char* name, int required) {
	char sym[128];
	snprintf(sym, sizeof sym, "plugin_%s", name);
	void* p = dlsym(handle, sym);
	if (!p && required) die(2, "required symbol %s missing", sym);
	return p;
}
