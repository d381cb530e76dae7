// Returning freed heap pages to the OS (glibc's malloc_trim), for the loaders that free large temporaries.
#include "qanchor_kernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void qa_release_free_heap_pages(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
