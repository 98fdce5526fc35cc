#!/usr/bin/env bash
# Runs the whole test suite once per OpenBLAS kernel family and thread setting, to show that no test depends on
# how one CPU's kernels round (docs/TESTING.md). By hand only: never set these variables in CI or in tests.
#
#   tools/test_blas_variants.sh [VARIANT ...]     (default: every variant this CPU can run)
#
# Variants: default, Haswell, Zen, SkylakeX (only where the CPU has AVX-512), Sandybridge (AVX without FMA, so
# products round before they are added), threads1 (OPENBLAS_NUM_THREADS=1 and the process pinned to one core, so
# bcos's own worker pool is 1 too), threads2 (OPENBLAS_NUM_THREADS=2). Prints the kernel OpenBLAS reports under
# each setting (openblas_get_corename) and the suite's summary line; the logs go to ${LOGS:-/tmp/bcos-variants}.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=${LOGS:-/tmp/bcos-variants}
mkdir -p "$logs"
probe="$logs/corename"
cat > "$probe.c" <<'C'
#include <stdio.h>
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
int main(void) { printf("%s, %d thread(s)", openblas_get_corename(), openblas_get_num_threads()); return 0; }
C
cc "$probe.c" -o "$probe" -lopenblas || exit 1
variants=("$@")
if [ ${#variants[@]} -eq 0 ]; then
    variants=(default Haswell Zen)
    grep -qw avx512f /proc/cpuinfo && variants+=(SkylakeX)
    variants+=(Sandybridge threads1 threads2)
fi
swift build --build-tests >"$logs/build.log" 2>&1 || { echo "build failed: $logs/build.log"; exit 1; }
status=0
printf '%-12s %-40s %s\n' variant "OpenBLAS kernel" result
for v in "${variants[@]}"; do
    envs=() pin=()
    case $v in
        default) ;;
        threads1) envs=(OPENBLAS_NUM_THREADS=1); pin=(taskset -c 0) ;;
        threads2) envs=(OPENBLAS_NUM_THREADS=2) ;;
        *) envs=(OPENBLAS_CORETYPE=$v) ;;
    esac
    kernel=$(env "${envs[@]}" "${pin[@]}" "$probe")
    start=$(date +%s)
    env "${envs[@]}" "${pin[@]}" swift test --skip-build >"$logs/$v.log" 2>&1
    rc=$?
    summary=$(grep -E "Executed [0-9]+ tests?, with" "$logs/$v.log" | tail -1 | sed 's/^[[:space:]]*//')
    printf '%-12s %-40s %s (exit %d, %d s)\n' "$v" "$kernel" "${summary:-no summary}" "$rc" "$(( $(date +%s) - start ))"
    [ "$rc" = 0 ] || status=1
done
exit $status
