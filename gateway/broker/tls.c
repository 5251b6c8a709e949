/* TLS for mqtts listeners over OpenSSL: building a listener's server
 * context from its settings, and the non-blocking handshake, read and write
 * of one connection, each reporting what the socket must wait for. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "gateway/broker/tls.h"
#include "gateway/log.h"

/* The text behind `why`: one thread (the loop's), one call at a time. */
static char why_buf[256];

/* The newest OpenSSL error as words ("tlsv1 alert unknown ca"), and the
 * queue cleared, so the next call starts clean (OpenSSL requires it). */
static const char *ssl_error_text(const char *fallback)
{
    /* A file that cannot be read fails at the bottom (the system error,
     * first in the queue) and is reported up ("system lib", last). */
    unsigned long first = ERR_peek_error();
    unsigned long e = first && ERR_SYSTEM_ERROR(first) ? first : ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (!reason && e && ERR_SYSTEM_ERROR(e))
        reason = strerror(ERR_GET_REASON(e));
    snprintf(why_buf, sizeof(why_buf), "%s", reason ? reason : fallback);
    ERR_clear_error();
    return why_buf;
}

static int load_identity(SSL_CTX *ctx, const struct cfg_listener_tls *cfg, const char *name)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
        log_error("broker", "%s: cannot load certificate %s: %s", name, cfg->cert_file,
                  ssl_error_text("unknown error"));
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        log_error("broker", "%s: cannot use key %s: %s", name, cfg->key_file,
                  ssl_error_text("unknown error"));
        return -1;
    }
    return 0;
}

/* With a CA, client certificates are asked for and must chain to it; with
 * require_certificate, a client without one fails the handshake. */
static int load_client_ca(SSL_CTX *ctx, const struct cfg_listener_tls *cfg, const char *name)
{
    if (!cfg->ca_file)
        return 0;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
    if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1 || !names) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        log_error("broker", "%s: cannot load CA file %s: %s", name, cfg->ca_file,
                  ssl_error_text("no certificate in it"));
        return -1;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
                       (cfg->require_certificate ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    return 0;
}

static int set_protocol(SSL_CTX *ctx, const struct cfg_listener_tls *cfg, const char *name)
{
    int min = cfg->min_version == CFG_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
    /* Level 2 whatever the system's openssl.cnf says: RSA/DH ≥ 2048 bits,
     * no SHA-1 signatures. A cipher string may still lower it on purpose
     * ("...:@SECLEVEL=1"). */
    SSL_CTX_set_security_level(ctx, 2);
    if (SSL_CTX_set_min_proto_version(ctx, min) != 1) {
        log_error("broker", "%s: cannot set the minimum TLS version", name);
        return -1;
    }
    if (cfg->ciphers && SSL_CTX_set_cipher_list(ctx, cfg->ciphers) != 1) {
        log_error("broker", "%s: bad 'ciphers' '%s': %s", name, cfg->ciphers,
                  ssl_error_text("no usable cipher"));
        return -1;
    }
    if (cfg->ciphersuites && SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites) != 1) {
        log_error("broker", "%s: bad 'ciphersuites' '%s': %s", name, cfg->ciphersuites,
                  ssl_error_text("no usable ciphersuite"));
        return -1;
    }
    long opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    opts |= SSL_OP_IGNORE_UNEXPECTED_EOF; /* a client that just closes is not an error */
#endif
    SSL_CTX_set_options(ctx, opts);
    /* Partial writes: the output queue accounts each byte that left.
     * Moving buffer: a retried write is regathered, not kept in place.
     * Release buffers: idle TLS connections hold no record buffers. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                     SSL_MODE_RELEASE_BUFFERS);
    /* Sessions resumed with a client certificate need a context id. */
    static const unsigned char sid[] = "mqgate-broker";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    return 0;
}

struct ssl_ctx_st *tls_ctx_new(const struct cfg_listener_tls *cfg, const char *name)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        log_error("broker", "%s: cannot make a TLS context: %s", name,
                  ssl_error_text("out of memory"));
        return NULL;
    }
    if (set_protocol(ctx, cfg, name) || load_identity(ctx, cfg, name) ||
        load_client_ca(ctx, cfg, name)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void tls_ctx_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}

struct ssl_st *tls_conn_new(struct ssl_ctx_st *ctx, int fd)
{
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

void tls_conn_free(struct ssl_st *ssl)
{
    if (!ssl)
        return;
    /* close_notify, once, without waiting for the peer's: the socket is
     * closed next. Not after a fatal error (OpenSSL forbids it). */
    if (SSL_is_init_finished(ssl) && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
        SSL_shutdown(ssl);
    ERR_clear_error();
    SSL_free(ssl);
}

/* Map SSL_get_error of a call that returned rc <= 0. */
static enum tls_status status_of(SSL *ssl, int rc, const char **why)
{
    int err = SSL_get_error(ssl, rc);
    switch (err) {
    case SSL_ERROR_WANT_READ: return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && (errno == 0 || rc == 0)) {
            SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
            return TLS_CLOSED;
        }
        snprintf(why_buf, sizeof(why_buf), "%s", errno ? strerror(errno) : "I/O error");
        ERR_clear_error();
        *why = why_buf;
        break;
    default:
        *why = ssl_error_text("TLS error");
        break;
    }
    /* After a fatal error, no close_notify (tls_conn_free checks this). */
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    return TLS_FAILED;
}

enum tls_status tls_handshake(struct ssl_st *ssl, const char **why)
{
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(ssl);
    if (rc == 1)
        return TLS_DONE;
    enum tls_status st = status_of(ssl, rc, why);
    if (st == TLS_FAILED && SSL_get_verify_result(ssl) != X509_V_OK) {
        snprintf(why_buf, sizeof(why_buf), "client certificate: %s",
                 X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
        *why = why_buf;
    }
    if (st == TLS_CLOSED) {
        *why = "closed during the TLS handshake";
        st = TLS_FAILED;
    }
    return st;
}

char *tls_peer_cn(struct ssl_st *ssl)
{
    if (SSL_get_verify_result(ssl) != X509_V_OK)
        return NULL;
    X509 *cert = SSL_get0_peer_certificate(ssl);
    X509_NAME *subject = cert ? X509_get_subject_name(cert) : NULL;
    int i = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
    if (i < 0)
        return NULL;
    ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    char *cn = NULL;
    /* A NUL inside would make "admin\0.evil" read as "admin". */
    if (len > 0 && memchr(utf8, 0, (size_t)len) == NULL)
        cn = strndup((const char *)utf8, (size_t)len);
    OPENSSL_free(utf8);
    ERR_clear_error();
    return cn;
}

enum tls_status tls_read(struct ssl_st *ssl, void *buf, size_t len, size_t *n, const char **why)
{
    ERR_clear_error();
    errno = 0;
    int rc = SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (rc > 0) {
        *n = (size_t)rc;
        return TLS_DONE;
    }
    *n = 0;
    return status_of(ssl, rc, why);
}

size_t tls_pending(struct ssl_st *ssl)
{
    int n = SSL_pending(ssl);
    return n > 0 ? (size_t)n : 0;
}

enum tls_status tls_write(struct ssl_st *ssl, const void *buf, size_t len, size_t *n,
                          const char **why)
{
    ERR_clear_error();
    errno = 0;
    int rc = SSL_write(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (rc > 0) {
        *n = (size_t)rc;
        return TLS_DONE;
    }
    *n = 0;
    return status_of(ssl, rc, why);
}
