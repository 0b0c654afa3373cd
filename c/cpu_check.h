/*
 * The C++ JSON core is built for SSE4.2 + PCLMUL on x86-64 (setup.py): both plugin
 * libraries refuse to start on an older CPU rather than die of an illegal instruction.
 */
#ifndef K8A_CPU_CHECK_H
#define K8A_CPU_CHECK_H

#include <stddef.h>
#include <stdio.h>

/* 0 when this CPU runs the core; -1 with the reason in err otherwise. */
static inline int k8a_cpu_supported(char* err, size_t errlen) {
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("sse4.2") || !__builtin_cpu_supports("pclmul")) {
		snprintf(err, errlen, "this CPU lacks SSE4.2/PCLMUL, which k8saudit-ovh's JSON parser needs");
		return -1;
	}
#endif
	(void)err;
	(void)errlen;
	return 0;
}

#endif
