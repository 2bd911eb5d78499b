/*
 * tls_certs.h - a throwaway certificate authority for the HTTPS tests,
 * made with OpenSSL's API at test time into a temporary directory: the
 * CA's certificate (what a client is given as its CA file), and server
 * certificates it signs, for chosen names (subjectAltName) and validity.
 * Keys are P-256 (fast to make, also under the sanitizers).
 *
 *   test_ca ca;
 *   test_ca_new(&ca);                          // ca.dir/ca.pem
 *   test_ca_issue(&ca, "good", "IP:127.0.0.1,DNS:localhost", -60, 3600);
 *       // ca.dir/good.pem and ca.dir/good.key: valid from a minute ago
 *   ... mt-test-httpd --tls-cert ca.dir/good.pem --tls-key ca.dir/good.key
 *   test_ca_free(&ca);                         // the directory goes too
 */
#ifndef MT_TEST_TLS_CERTS_H
#define MT_TEST_TLS_CERTS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct test_ca {
    char dir[64];     /* temporary directory of the files */
    char pem[96];     /* the CA's certificate */
    EVP_PKEY *key;
    X509 *cert;
    long serial;
} test_ca;

/* Add extension nid with OpenSSL's config-style value to x. */
static inline void test_ca_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
    cr_assert(e, "extension %d = %s", nid, value);
    cr_assert_eq(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A certificate for key, named cn, valid from `from` to `to` seconds from
 * now, signed by issuer (NULL: self-signed, a CA). */
static inline X509 *test_ca_cert(test_ca *ca, EVP_PKEY *key, const char *cn, const char *san,
                                 long from, long to)
{
    X509 *x = X509_new();
    cr_assert(x);
    X509 *issuer = ca->cert ? ca->cert : x;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++ca->serial);
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(issuer));
    test_ca_ext(x, issuer, NID_subject_key_identifier, "hash");
    if (!ca->cert) {
        test_ca_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        test_ca_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        test_ca_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
        test_ca_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        test_ca_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
        test_ca_ext(x, issuer, NID_ext_key_usage, "serverAuth");
        test_ca_ext(x, issuer, NID_subject_alt_name, san);
    }
    cr_assert_gt(X509_sign(x, ca->cert ? ca->key : key, EVP_sha256()), 0);
    return x;
}

static inline void test_ca_write_cert(const char *path, X509 *x)
{
    FILE *f = fopen(path, "we");
    cr_assert(f, "cannot write %s", path);
    cr_assert_eq(PEM_write_X509(f, x), 1);
    cr_assert_eq(fclose(f), 0);
}

/* A new CA, its certificate in ca->pem. */
static inline void test_ca_new(test_ca *ca)
{
    memset(ca, 0, sizeof *ca);
    snprintf(ca->dir, sizeof ca->dir, "/tmp/mt-tls-XXXXXX");
    cr_assert(mkdtemp(ca->dir), "mkdtemp: %s", strerror(errno));
    snprintf(ca->pem, sizeof ca->pem, "%s/ca.pem", ca->dir);
    ca->key = EVP_EC_gen("P-256");
    cr_assert(ca->key);
    ca->cert = test_ca_cert(ca, ca->key, "multitask test CA", NULL, -3600, 86400);
    test_ca_write_cert(ca->pem, ca->cert);
}

/* A server certificate signed by ca, for the names of san ("IP:127.0.0.1,
 * DNS:localhost"), valid from `from` to `to` seconds from now (both may
 * be negative: an expired one): dir/<name>.pem and dir/<name>.key. */
static inline void test_ca_issue(test_ca *ca, const char *name, const char *san, long from,
                                 long to)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    cr_assert(key);
    X509 *x = test_ca_cert(ca, key, name, san, from, to);
    char path[128];
    snprintf(path, sizeof path, "%s/%s.pem", ca->dir, name);
    test_ca_write_cert(path, x);
    snprintf(path, sizeof path, "%s/%s.key", ca->dir, name);
    FILE *f = fopen(path, "we");
    cr_assert(f);
    cr_assert_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    cr_assert_eq(fclose(f), 0);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* The path of a file of the CA's directory, into out. */
static inline const char *test_ca_path(const test_ca *ca, const char *file, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", ca->dir, file);
    return out;
}

static inline int test_ca_rm(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st, (void)type, (void)f;
    remove(path);
    return 0;
}

static inline void test_ca_free(test_ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    ca->cert = NULL;
    ca->key = NULL;
    nftw(ca->dir, test_ca_rm, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
