/*
 * Starting the embedded CPython interpreter from inside a plugin that Falco dlopen()s
 * with RTLD_LOCAL, following docs/design.md "Embedding CPython inside a plugin".
 */
#ifndef K8A_PYTHON_EMBED_H
#define K8A_PYTHON_EMBED_H

#include <Python.h>
#include <stddef.h>

/* Makes sure an interpreter runs in this process (starts one the first time, or uses the
 * one already running) and that the GIL is not held by the caller afterwards.
 * Returns 0, or -1 with a message in err. */
int k8a_python_start(char* err, size_t errlen);

/* With the GIL held: formats and clears the pending Python exception. */
void k8a_python_error(const char* what, char* err, size_t errlen);

#endif
