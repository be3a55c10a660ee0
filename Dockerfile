# The Boundary Lens as a service: CPU torch, a non-root user, a health check.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TORCH_EXTENSIONS_DIR=/srv/lens/.torch_extensions \
    LENS_HOST=0.0.0.0 LENS_PORT=8000
# a C++ compiler builds the HM-LSTM loops once, at image build time
RUN apt-get update && apt-get install -y --no-install-recommends g++ \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 lens
WORKDIR /srv/lens
COPY requirements.txt .
# the CPU build of torch (the default one on PyPI for Linux carries CUDA, several GB)
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install --no-cache-dir -r requirements.txt
COPY model model
COPY app app
COPY templates templates
COPY static static
COPY checkpoints checkpoints
RUN mkdir -p "$TORCH_EXTENSIONS_DIR" && chown -R lens:lens /srv/lens
USER lens
# the C++ loops are built for this machine's CPU (AVX2/FMA where it has them); building the image
# for other hosts, pass --build-arg HMLSTM_PORTABLE=1
ARG HMLSTM_PORTABLE=0
ENV HMLSTM_PORTABLE=$HMLSTM_PORTABLE
RUN python -m model.build
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["python", "-m", "app"]
