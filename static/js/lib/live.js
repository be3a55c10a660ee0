// Asking while the person types: at most one request in flight; an answer to an input that is
// no longer the current one is dropped (and the current one asked for at once); an empty input
// cancels what is in flight. onBusy(true) when an answer takes longer than busyMs.

export class Live {
  constructor({ run, onResult, onError, onBusy = () => {}, busyMs = 300 }) {
    Object.assign(this, { run, onResult, onError, onBusy, busyMs });
    this.wanted = null;          // {key, input}
    this.flying = null;          // {key, controller}
    this.timer = null;
  }

  // key: a string that identifies the input (text + models); input null: nothing to analyse
  want(key, input) {
    this.wanted = input === null ? null : { key, input };
    if (input === null && this.flying) {
      this.flying.controller.abort();
      this.flying = null;
      this.busy(false);
    }
    if (!this.flying) this.next();
  }

  current(key) { return this.wanted !== null && this.wanted.key === key; }

  async next() {
    const job = this.wanted;
    if (!job) return;
    const controller = new AbortController();
    this.flying = { key: job.key, controller };
    this.busy(true);
    try {
      const result = await this.run(job.input, controller.signal);
      if (this.flying && this.flying.controller === controller) this.flying = null;
      if (this.current(job.key)) { this.busy(false); this.onResult(result, job.input); }
    } catch (e) {
      if (this.flying && this.flying.controller === controller) this.flying = null;
      if (e.name !== "AbortError" && this.current(job.key)) { this.busy(false); this.onError(e); }
    }
    if (!this.flying && this.wanted && this.wanted.key !== job.key) this.next();   // the person typed on
    else if (!this.flying) this.busy(false);
  }

  busy(on) {
    clearTimeout(this.timer);
    if (on) this.timer = setTimeout(() => this.onBusy(true), this.busyMs);
    else this.onBusy(false);
  }
}
