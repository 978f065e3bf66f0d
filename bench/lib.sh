# Shared by the bench/ scripts: the cargo profile to build and run (BENCH_PROFILE, default
# release; CI's smoke runs use the debug build it already has), and the results directory.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROFILE=${BENCH_PROFILE:-release}
case "$PROFILE" in
  debug | dev) PROFILE_FLAG=(); TARGET_DIR=target/debug ;;
  *) PROFILE_FLAG=(--profile "$PROFILE"); TARGET_DIR="target/$PROFILE" ;;
esac
mkdir -p bench/results
# bench_build <cargo build args...>: builds quietly in the chosen profile.
bench_build() {
  echo "== building ($PROFILE)"
  cargo build -q "${PROFILE_FLAG[@]}" "$@"
}
