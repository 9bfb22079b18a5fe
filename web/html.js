// One place binds htm's tagged templates to Preact, so every component writes html`…` without a build step.
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
