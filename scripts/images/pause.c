/* tutti/pause: the sandbox container's only process. It holds the pod's network and IPC
 * namespaces, reaps zombies (it may be PID 1), and exits at once on SIGTERM or SIGINT
 * (a PID 1 that installs no handler ignores them, which is why busybox sleep won't do). */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) { (void)sig; _exit(0); }
static void on_child(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, 0);
  sigaction(SIGINT, &sa, 0);
  sa.sa_handler = on_child;
  sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &sa, 0);
  for (;;) pause();
  return 0;
}
