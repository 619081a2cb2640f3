#ifndef MAGFLEET_CZMQ_SHIM_H
#define MAGFLEET_CZMQ_SHIM_H
#include <zmq.h>
#include <errno.h>

// errno is a macro Swift cannot always see through on every libc; zmq_errno() is the
// portable way, this only names EAGAIN/EINTR for the wrapper.
static inline int magfleet_zmq_eagain(void) { return EAGAIN; }
static inline int magfleet_zmq_eintr(void) { return EINTR; }
#endif
