#ifndef BCOS_CNCURSES_SHIM_H
#define BCOS_CNCURSES_SHIM_H

/* SwiftPM drops the -D flags pkg-config reports, and without these curses.h hides the
   wide-character API (cchar_t, get_wch, wget_wch). */
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <wchar.h>
#include <curses.h>
#include <term.h>

/* Swift 6 rejects mutable C globals as not concurrency-safe; read them through functions. */
static inline WINDOW *bcos_stdscr(void) { return stdscr; }
static inline int bcos_lines(void) { return LINES; }
static inline int bcos_cols(void) { return COLS; }
static inline int bcos_colors(void) { return COLORS; }
static inline FILE *bcos_stdin(void) { return stdin; }
static inline FILE *bcos_stdout(void) { return stdout; }

/* Key codes and mouse masks: Swift does not import macros built from other macros or
   function-like macros, so re-export the ones the terminal layer uses. */
static const int bcos_key_code_yes = KEY_CODE_YES;
static const int bcos_key_resize = KEY_RESIZE;
static const int bcos_key_mouse = KEY_MOUSE;
static inline int bcos_key_f(int n) { return KEY_F(n); }
static const mmask_t bcos_button1_pressed = BUTTON1_PRESSED;
static const mmask_t bcos_button1_released = BUTTON1_RELEASED;
static const mmask_t bcos_button1_clicked = BUTTON1_CLICKED;
static const mmask_t bcos_button4_pressed = BUTTON4_PRESSED;
static const mmask_t bcos_button5_pressed = BUTTON5_PRESSED;

/* Installs `handler` (SA_SIGINFO) for `sig` unless the signal is ignored (nohup), storing the previous action
   in `old` so the handler can hand the signal on (to the Swift runtime's backtracer, for example). Returns 1 when
   installed, 0 when left alone, -1 on error. The union inside struct sigaction is awkward to fill from Swift. */
static inline int bcos_install_signal_handler(int sig, void (*handler)(int, siginfo_t *, void *),
                                              struct sigaction *old) {
    if (sigaction(sig, NULL, old) != 0) return -1;
    if (!(old->sa_flags & SA_SIGINFO) && old->sa_handler == SIG_IGN) return 0;
    struct sigaction action;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO;
    action.sa_sigaction = handler;
    return sigaction(sig, &action, NULL) == 0 ? 1 : -1;
}

/* Atomic exchange on storage Swift owns (Swift's own atomics need macOS 15); lock-free, so signal handlers may
   call it. */
static inline int bcos_atomic_exchange(int *flag, int value) {
    return __atomic_exchange_n(flag, value, __ATOMIC_SEQ_CST);
}

/* Puts back an action saved by bcos_install_signal_handler. */
static inline int bcos_restore_signal_handler(int sig, const struct sigaction *old) {
    return sigaction(sig, old, NULL);
}

#endif
