# Shared by the bench/ scripts: the cargo profile to build and run (BENCH_PROFILE, default
# release; CI's smoke runs use the debug build it already has), and the results directory.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROFILE=${BENCH_PROFILE:-release}
case "$PROFILE" in
  debug | dev) PROFILE_FLAG=(); TARGET_DIR=target/debug ;;
  *) PROFILE_FLAG=(--profile "$PROFILE"); TARGET_DIR="target/$PROFILE" ;;
esac
mkdir -p bench/results
# bench_build: builds every binary and example of the workspace quietly in the chosen
# profile. Always the same set, so that the bench scripts share one build: building one
# package alone resolves its dependencies' features differently and rebuilds them. In the
# debug profile it is the set scripts/test.sh builds (a no-op there).
bench_build() {
  echo "== building ($PROFILE)"
  case "$PROFILE" in
    debug | dev) cargo build -q --workspace --all-targets ;;
    *) cargo build -q "${PROFILE_FLAG[@]}" --workspace --bins --examples ;;
  esac
}
