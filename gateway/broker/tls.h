/* TLS for the broker's mqtts listeners, over OpenSSL: one server context per
 * listener, made from its `tls` settings, and non-blocking per-connection
 * calls (handshake, read, write) that say what the socket must wait for
 * instead of blocking, so the event loop drives them. Loop thread only. */
#ifndef MQGATE_BROKER_TLS_H
#define MQGATE_BROKER_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"

/* OpenSSL's own types (SSL_CTX, SSL), named without its headers. */
struct ssl_ctx_st;
struct ssl_st;

/* A server context for a listener: certificate chain and key, client
 * certificates checked against ca_file when given (required with
 * require_certificate), TLS 1.2 or 1.3 at least, OpenSSL's default ciphers
 * at security level 2 unless `ciphers`/`ciphersuites` say otherwise, no
 * compression, no renegotiation. `name` (e.g. "127.0.0.1:8883") is for the
 * log. Returns the context (the caller owns it: tls_ctx_free), or NULL with
 * the reason logged (unreadable file, key not matching, bad cipher list). */
struct ssl_ctx_st *tls_ctx_new(const struct cfg_listener_tls *cfg, const char *name);

/* Drop the caller's reference: connections made from it keep it alive until
 * they end (that is how a reload leaves open connections alone). NULL: no-op. */
void tls_ctx_free(struct ssl_ctx_st *ctx);

/* A server-side connection on non-blocking socket `fd` (borrowed: the caller
 * closes it after tls_conn_free). NULL when out of memory. */
struct ssl_st *tls_conn_new(struct ssl_ctx_st *ctx, int fd);

/* Send close_notify if possible (never waits), then free. NULL: no-op. */
void tls_conn_free(struct ssl_st *ssl);

/* What a call needs before it can go on (or how it ended). */
enum tls_status {
    TLS_DONE = 0,       /* handshake finished / bytes moved */
    TLS_WANT_READ,      /* retry when the socket is readable */
    TLS_WANT_WRITE,     /* retry when the socket is writable */
    TLS_CLOSED,         /* the peer closed (close_notify or EOF) */
    TLS_FAILED,         /* protocol or socket error: *why says which */
};

/* Advance the handshake. `*why` (static or thread-local text, valid until
 * the next tls_ call) explains TLS_FAILED. */
enum tls_status tls_handshake(struct ssl_st *ssl, const char **why);

/* The peer certificate's subject CN after a successful handshake, as a new
 * string (the caller frees it), or NULL when there is no verified
 * certificate, no CN, a CN with a NUL in it, or no memory. */
char *tls_peer_cn(struct ssl_st *ssl);

/* Read up to `len` decrypted bytes: *n is the count on TLS_DONE. */
enum tls_status tls_read(struct ssl_st *ssl, void *buf, size_t len, size_t *n, const char **why);

/* Decrypted bytes already received and buffered inside OpenSSL: they make
 * the socket look idle, so they must be read before waiting on it. */
size_t tls_pending(struct ssl_st *ssl);

/* Write `len` (> 0) bytes: *n is how many went out on TLS_DONE (partial
 * writes are enabled). After TLS_WANT_*, call again with the same first
 * bytes and at least the same length (the buffer itself may move). */
enum tls_status tls_write(struct ssl_st *ssl, const void *buf, size_t len, size_t *n,
                          const char **why);

#endif
