// A small SVG line chart of the last few minutes, drawn by hand (no library): a fixed
// window of samples (bounded memory), one polyline per series, the scale's top labelled.
// For screen readers the chart is one image whose label says the latest values; the same
// values are in its `data-last` attribute (what the browser tests read).

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 600;
const HEIGHT = 200;
const PAD = 28;

function svg(tag, attributes = {}) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

export class LineChart {
  /** series: names of the lines; name: the chart's `data-chart`; windowSamples: how many
   *  samples are kept (one a second). */
  constructor(title, series, name = null, windowSamples = 300) {
    this.title = title;
    this.series = series;
    this.windowSamples = windowSamples;
    this.samples = [];
    this.element = svg('svg', { class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', preserveAspectRatio: 'none' });
    if (name) this.element.setAttribute('data-chart', name);
    this.label = svg('title');
    this.element.append(this.label);
    this.lines = series.map((_, i) => svg('polyline', { class: `s${i}`, points: '' }));
    this.top = svg('text', { x: 2, y: 12 });
    this.span = svg('text', { x: PAD, y: HEIGHT - 4 });
    this.element.append(
      svg('line', { class: 'grid', x1: PAD, y1: PAD / 2, x2: PAD, y2: HEIGHT - PAD }),
      svg('line', { class: 'grid', x1: PAD, y1: HEIGHT - PAD, x2: WIDTH, y2: HEIGHT - PAD }),
      this.top, this.span, ...this.lines,
    );
    this.render();
  }

  /** Adds one sample: a value per series. */
  push(values) {
    this.samples.push(values);
    if (this.samples.length > this.windowSamples) this.samples.shift();
    this.render();
  }

  render() {
    const max = Math.max(1, ...this.samples.flat());
    // The x axis grows with the history, from a minute up to the whole window, so a
    // fresh chart is not a sliver at its right edge.
    const span = Math.min(this.windowSamples, Math.max(60, this.samples.length));
    const step = (WIDTH - PAD) / Math.max(1, span - 1);
    const offset = span - this.samples.length;
    const y = (v) => (HEIGHT - PAD) - (v / max) * (HEIGHT - PAD * 1.5);
    this.series.forEach((_, i) => {
      const points = this.samples.map((sample, j) => `${(PAD + (offset + j) * step).toFixed(1)},${y(sample[i]).toFixed(1)}`);
      this.lines[i].setAttribute('points', points.join(' '));
    });
    this.top.textContent = String(Math.round(max * 10) / 10);
    this.span.textContent = `last ${span} s (up to ${Math.round(this.windowSamples / 60)} min)`;
    const last = this.samples[this.samples.length - 1] ?? this.series.map(() => 0);
    const words = this.series.map((name, i) => `${name} ${last[i]}`).join(', ');
    this.label.textContent = `${this.title}: ${words}`;
    this.element.setAttribute('data-last', last.join(' '));
    this.element.setAttribute('aria-label', this.label.textContent);
  }

  /** The key printed under the chart. */
  key() {
    const p = document.createElement('p');
    p.className = 'chart-key';
    p.setAttribute('aria-hidden', 'true');
    this.series.forEach((name, i) => {
      const span = document.createElement('span');
      span.className = `k${i}`;
      span.textContent = `— ${name}`;
      p.append(span);
    });
    return p;
  }
}
