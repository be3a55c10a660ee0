"""Build the C++ HM-LSTM loops now rather than on first use: `python -m model.build`."""
import sys
import time

from model.loops import cpp_loops


def main():
    t0 = time.time()
    if cpp_loops() is None:
        sys.exit("model.build: the C++ loops did not build (see the warning above); the Python loops still work")
    print(f"C++ HM-LSTM loops ready ({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
