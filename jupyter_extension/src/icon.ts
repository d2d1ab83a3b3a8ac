import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161"><rect x="2" y="3" width="8" height="5" rx="1"/>
<rect x="14" y="10" width="8" height="5" rx="1"/><rect x="2" y="17" width="8" height="5" rx="1"/>
<path d="M6 8v9h1.5V8zM10 5.5h6v4.5h-1.5V7H10zM14 12.5H8.5v1.5H14z"/></g></svg>`;

export const pipelineIcon = new LabIcon({ name: 'nb2pipe:pipeline', svgstr: svg });
