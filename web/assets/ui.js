// Small DOM helpers shared by the visitor's page and the dashboard. No innerHTML with
// data: every text goes through textContent, so nothing the server says can inject markup.
import { english } from './errors.js';

/** Creates an element: h('button', { class: 'seat', onclick }, 'text', child…). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** Replaces an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) element.append(child);
  }
  return element;
}

/** Shows an API error as people read it: the Korean message, the English line beside. */
export function showError(box, error) {
  if (!error) {
    fill(box);
    box.hidden = true;
    return;
  }
  const code = error.code ?? 'INTERNAL_ERROR';
  const msg = error.msg ?? '요청을 처리할 수 없습니다.';
  fill(
    box,
    h('p', { class: 'ko', lang: 'ko' }, msg),
    h('p', { class: 'en', lang: 'en' }, english(code)),
  );
  box.dataset.code = code;
  box.hidden = false;
}

/** 10000 → "10,000". */
export function points(n) {
  return Number(n).toLocaleString('en-US');
}

/** Seconds → "4:05". */
export function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
