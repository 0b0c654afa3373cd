/*
 * LD_PRELOAD shim for the C test host: counts calls to malloc, calloc and realloc in the
 * whole process, so a test can check that steady-state event handling allocates nothing.
 * The host finds k8a_malloc_calls() with dlsym and reports the count over a window of events.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

static atomic_uint_fast64_t calls;
extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);

uint64_t k8a_malloc_calls(void) { return atomic_load(&calls); }

void* malloc(size_t n) {
	atomic_fetch_add(&calls, 1);
	return __libc_malloc(n);
}

void* calloc(size_t n, size_t size) {
	atomic_fetch_add(&calls, 1);
	return __libc_calloc(n, size);
}

void* realloc(void* p, size_t n) {
	atomic_fetch_add(&calls, 1);
	return __libc_realloc(p, n);
}
