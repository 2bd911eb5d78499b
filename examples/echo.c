/*
 * echo.c - an echo server and three clients that check its replies, all
 * coroutines of one loop (examples/py/echo.py). The server accepts
 * connections and starts a task per connection in a task group; closing
 * the server is cancelling its task, which cancels the group.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "multitask.h"

/* async def handle(reader, writer): echo until the client closes. */
static int handle(void *arg)
{
    int fd = (int)(long)arg;
    char buf[4096];
    ssize_t n;
    while ((n = mt_co_sock_recv(fd, buf, sizeof buf)) > 0)
        if (mt_co_sock_sendall(fd, buf, (size_t)n) != 0)
            break;
    mt_co_close(fd);
    return 0;
}

static int server(void *arg)
{
    int lfd = *(int *)arg;
    mt_task_group g;
    mt_task_group_init(&g);
    int err;
    for (;;) {
        int fd;
        if ((err = mt_co_sock_accept(lfd, &fd)) != 0)
            break;
        mt_task_group_create_task(&g, handle, (void *)(long)fd, NULL, NULL);
    }
    mt_task_group_wait(&g);
    return err;
}

typedef struct client_arg {
    int port, k;
} client_arg;

/* Send three messages; return how many replies matched. */
static int client(void *arg)
{
    client_arg *c = arg;
    int fd;
    int err = mt_co_sock_connect(&fd, "127.0.0.1", c->port);
    if (err)
        return err;
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        char msg[64], reply[64];
        size_t len = (size_t)snprintf(msg, sizeof msg, "hello %d from client %d", i, c->k);
        if (mt_co_sock_sendall(fd, msg, len) != 0)
            break;
        size_t got = 0; /* reader.readexactly(len) */
        ssize_t n = 1;
        while (got < len && (n = mt_co_sock_recv(fd, reply + got, len - got)) > 0)
            got += (size_t)n;
        ok += got == len && memcmp(reply, msg, len) == 0;
    }
    mt_co_close(fd);
    return ok;
}

static int main_coro(void *arg)
{
    (void)arg;
    int lfd;
    int err = mt_co_tcp_listen(&lfd, "127.0.0.1", 0, 0);
    if (err)
        return err;
    int port = mt_co_sock_port(lfd);
    printf("echo server listening on 127.0.0.1\n");
    mt_task *srv, *clients[3];
    client_arg args[3];
    mt_task_create(&srv, server, &lfd, &(mt_task_opts){.name = "server"});
    for (int k = 0; k < 3; k++) {
        args[k] = (client_arg){port, k};
        mt_task_create(&clients[k], client, &args[k], NULL);
    }
    int results[3];
    err = mt_co_gather(clients, 3, results, NULL);
    for (int k = 0; k < 3; k++) {
        printf("client %d: %d of 3 replies match\n", k, results[k]);
        mt_task_free(clients[k]);
    }
    mt_task_cancel(srv); /* server.close() */
    mt_task_await(srv);  /* await server.wait_closed() */
    mt_task_free(srv);
    mt_co_close(lfd);
    printf("server closed\n");
    return err;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int err = mt_run(main_coro, NULL, NULL);
    if (err) {
        fprintf(stderr, "echo: %s\n", mt_strerror(err));
        return 1;
    }
    return 0;
}
