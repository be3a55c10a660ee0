"""`python -m app`: serve the Boundary Lens (uvicorn), with the settings of app/settings.py read from LENS_*
variables (or .env); the options below override them."""
import uvicorn

from app.settings import settings_or_exit
from model.cli import Parser


def main(argv=None):
    p = Parser(prog="python -m app", description="Serve the HM-LSTM Boundary Lens on the checkpoints in "
                                                 "LENS_CHECKPOINT_DIR (by default the bundled checkpoints/).",
               epilog="Every setting (limits, checkpoint folder, rate limits...) is a LENS_ variable: "
                      "LENS_CHECKPOINT_DIR, LENS_DEFAULT_MODEL, LENS_MAX_TEXT_CHARS, LENS_WORKERS, ... "
                      "(app/settings.py lists them).")
    p.add_argument("--host", help="address to listen on (LENS_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (LENS_PORT, default 8000)")
    p.add_argument("--workers", type=int, help="worker processes (LENS_WORKERS, default 1)")
    given = {k: v for k, v in vars(p.parse_args(argv)).items() if v is not None}
    s = settings_or_exit(**given)
    # X-Forwarded-For is read only behind a proxy of ours: else uvicorn would take it from any client on this
    # host as its address, and a client that names itself anew each time would never be rate limited
    uvicorn.run("app.main:app", host=s.host, port=s.port, workers=s.workers, proxy_headers=s.behind_proxy,
                forwarded_allow_ips="*" if s.behind_proxy else None)


if __name__ == "__main__":
    main()
