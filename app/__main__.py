"""`python -m app`: serve with the host, port and workers from the settings (LENS_* variables)."""
import uvicorn

from app.settings import Settings


def main():
    s = Settings()
    uvicorn.run("app.main:app", host=s.host, port=s.port, workers=s.workers, proxy_headers=True,
                forwarded_allow_ips="*" if s.behind_proxy else None)


if __name__ == "__main__":
    main()
