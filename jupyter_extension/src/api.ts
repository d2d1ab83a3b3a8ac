// REST client for the nb2pipe server extension (nb2pipe/jupyter/handlers.py).
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IDiagnostic {
  code: string;
  message: string;
  severity: 'error' | 'warning' | 'info';
  path: string;
  cell: number | null; // 1-based over all cells
  line: number | null;
  col: number | null;
  location: string;
}

export interface IStep {
  name: string;
  title: string;
  cells: number[];
  inputs: string[];
  input_sources: [string, string][];
  params: string[];
  outputs: string[];
  upstream: string[];
  metrics: string[];
  body: string;
  /** Steps found in the data flow (split "flow"): why the step starts where it does. */
  boundary?: string;
}

export interface IPlan {
  package: string;
  notebook: string;
  split: string;
  steps: IStep[];
  parameters: [string, string][];
  metrics: [string, string][];
}

export interface ICheck {
  stale: boolean;
  converted: boolean;
  problems: string[];
  summary: string;
  edited: string[];
  serving?: IServing | null; // null before a conversion
}

/** Whether the project has a verified serving path (nb2pipe/planning/serving_status.py). */
export interface IServing {
  verified: boolean;
  status: string; // verified | not verified | not proven | no serving path | none
  code: string;
  reason: string;
  module?: string;
  output?: string;
  run?: number | null; // verified: the run `nb2pipe serve` serves (null: no run stored its state)
}

/** One code cell as the preview sees it (nb2pipe/jupyter/cellmarks.py). */
export interface ICellMark {
  cell: number; // 1-based over all cells
  step: string | null;
  start: 'tag' | 'heading' | 'flow' | 'first' | null;
  skipped: string | null;
  stripped: { line: number; end: number; reason: string; code: string }[];
}

export interface IPreview {
  path: string;
  outdir: string;
  plan: IPlan | null;
  diagnostics: IDiagnostic[];
  check: ICheck;
  readme: string | null;
  cells?: ICellMark[];
  explain?: Record<string, string>;
}

export interface IConversion {
  status: 'converted' | 'unchanged' | 'failed';
  path: string;
  outdir: string;
  plan: IPlan | null;
  diagnostics: IDiagnostic[];
  written: string[];
  unchanged: string[];
  kept: string[];
  removed: string[];
  internal_error: string | null;
  readme: string | null;
  check: ICheck;
}

/** Call the server extension; throws an Error carrying the server's message on failure. */
export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit = {},
  query: Record<string, string> = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const qs = URLExt.objectToQueryString(query);
  const url = URLExt.join(settings.baseUrl, 'nb2pipe', endpoint) + qs;
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!response.ok) {
    const message =
      (data && (data.message || data.reason)) || response.statusText || 'request failed';
    throw new Error(`nb2pipe ${endpoint}: ${response.status} ${message}`);
  }
  return data as T;
}

export function preview(path: string): Promise<IPreview> {
  return requestAPI<IPreview>('preview', { method: 'GET' }, { path });
}

/** The preview of the notebook as the editor holds it (unsaved edits included). */
export function previewContent(path: string, notebook: unknown): Promise<IPreview> {
  return requestAPI<IPreview>('preview', {
    method: 'POST',
    body: JSON.stringify({ path, notebook })
  });
}

export function convert(path: string, force = false): Promise<IConversion> {
  return requestAPI<IConversion>('convert', {
    method: 'POST',
    body: JSON.stringify({ path, force })
  });
}
