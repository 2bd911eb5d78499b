/*
 * errors.c - libcurl's result codes as the library's: a negative errno
 * where one says the same thing (the socket's own errno when libcurl kept
 * it), MT_ENOHOST for a host name that does not resolve. A reason of our
 * own (the cap, a sink's error, a redirect loop) wins over libcurl's code.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "http_internal.h"

/* The errno libcurl saw on the socket, negated, or `fallback`. */
static int os_error(const mt__http_xfer *x, int fallback)
{
    long os = 0;
    curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os);
    return os > 0 && os < 4096 ? -(int)os : fallback;
}

int mt__http_error(const mt__http_xfer *x)
{
    if (x->err)
        return x->err;
    switch (x->code) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return MT_ENOHOST;
    case CURLE_COULDNT_CONNECT:
        return os_error(x, -ECONNREFUSED);
    case CURLE_TOO_MANY_REDIRECTS:
        return -ELOOP;
    case CURLE_UNSUPPORTED_PROTOCOL:
        return -EPROTONOSUPPORT;
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return -EINVAL;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_FILESIZE_EXCEEDED:
        return -EFBIG;
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
        return -EPIPE;
    case CURLE_RECV_ERROR:
        return os_error(x, -EPROTO); /* no errno: libcurl found the data bad */
    case CURLE_SEND_ERROR:
        return os_error(x, -EPIPE);
    case CURLE_BAD_CONTENT_ENCODING:
        return -EBADMSG;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return -EPROTO;
    case CURLE_RANGE_ERROR:
        return -ERANGE;
    case CURLE_LOGIN_DENIED:
    case CURLE_REMOTE_ACCESS_DENIED:
        return -EACCES;
    default:
        return -EIO;
    }
}
