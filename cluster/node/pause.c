/* The real node's sandbox ("pause") container: the process that holds a
 * pod's namespaces. It reaps the zombies of the pod's shared PID namespace
 * and exits on SIGINT or SIGTERM. Built static with musl-gcc by
 * `cloudshop cluster up` into the image cloudshop/pause. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int signal) {
    (void)signal;
    _exit(0);
}

static void reap(int signal) {
    (void)signal;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && argv[1][0] == '-' && argv[1][1] == 'v') {
        puts("cloudshop pause");
        return 0;
    }
    if (getpid() != 1) {
        fputs("pause: should be the first process of its PID namespace\n", stderr);
    }
    struct sigaction on_stop = {.sa_handler = stop};
    struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
    if (sigaction(SIGINT, &on_stop, NULL) < 0 || sigaction(SIGTERM, &on_stop, NULL) < 0 ||
        sigaction(SIGCHLD, &on_child, NULL) < 0) {
        perror("pause: sigaction");
        return 1;
    }
    for (;;) {
        pause();
    }
}
