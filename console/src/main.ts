import { html } from 'htm/preact';
import { render } from 'preact';
import { App } from './app';
import 'uplot/dist/uPlot.min.css';
import '../styles.css';

const root = document.getElementById('app');
if (root) {
  // Replace the "Loading" placeholder of index.html (render diffs against what is already there).
  root.replaceChildren();
  render(html`<${App} />`, root);
}
