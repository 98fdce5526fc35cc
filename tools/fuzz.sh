#!/usr/bin/env bash
# Builds bcos-fuzz with libFuzzer + AddressSanitizer and runs fuzz targets from the committed seeds
# (docs/TESTING.md, "Fuzzing"). Exits non-zero on the first finding (crash, trap, leak,
# hang, allocation > 2 GB); the input that caused it is left in the work folder as <target>-crash-*,
# <target>-timeout-*, <target>-oom-*. libFuzzer's timeout is wall-clock time, which a loaded machine (or `nice`)
# stretches, so a hang is 10 s here; inputs slower than 1 s are logged and kept as <target>-slow-unit-* to be
# timed again with the replay build (`.build/debug/bcos-fuzz <target> <file>`).
#
#   tools/fuzz.sh                              every target for 20 s (what CI runs)
#   tools/fuzz.sh png jpeg -- -runs=1000000    chosen targets, any libFuzzer options after --
#
# The working corpus is a copy of Tests/Fuzz/corpus/<target> under ${BCOS_FUZZ_WORK:-/tmp/bcos-fuzz}, so the
# committed seeds never grow.
set -euo pipefail
cd "$(dirname "$0")/.."
all=(safetensors config torch-zip torch-legacy png jpeg idx cifar)
targets=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do targets+=("$1"); shift; done
[ $# -gt 0 ] && shift
options=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
[ ${#options[@]} -gt 0 ] || options=(-max_total_time=20)
# The debug configuration (the release one builds BcosEngine with -Ounchecked) with -O: the optimiser keeps
# Swift's overflow, bounds and unwrap checks, so traps are still found, and runs the targets several times faster.
work=${BCOS_FUZZ_WORK:-/tmp/bcos-fuzz}
mkdir -p "$work"
if ! swift build --scratch-path .build-fuzz --product bcos-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -DBCOS_FUZZ -Xswiftc -O >"$work/build.log" 2>&1; then
    grep -v "Cannot export local symbol" "$work/build.log" | tail -30
    echo "fuzz: the build failed (log: $work/build.log)"
    exit 1
fi
tail -1 "$work/build.log"
for target in "${targets[@]}"; do
    dict=""
    case $target in
        safetensors|config|png|jpeg) dict="-dict=Tests/Fuzz/dict/$target.dict" ;;
        torch-*) dict="-dict=Tests/Fuzz/dict/torch.dict" ;;
    esac
    rm -rf "$work/$target" && mkdir -p "$work/$target"
    cp Tests/Fuzz/corpus/"$target"/* "$work/$target/"
    echo "fuzz $target: ${options[*]}"
    log="$work/$target.log"
    if ! .build-fuzz/debug/bcos-fuzz "$target" $dict -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
            -report_slow_units=1 -artifact_prefix="$work/$target-" -print_final_stats=1 "${options[@]}" \
            "$work/$target" >"$log" 2>&1; then
        tail -60 "$log"
        echo "fuzz $target: FINDING (log: $log)"
        exit 1
    fi
    { grep -aE "DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true; } | tr -s ' \t\n' ' '
    echo
done
