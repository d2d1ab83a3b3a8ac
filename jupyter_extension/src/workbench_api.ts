// REST client for the workbench endpoints (nb2pipe/jupyter/workbench.py): run, cancel, runs,
// compare, logs, verify, submit. The shapes are those of `nb2pipe run/runs/verify --json`.
import { requestAPI } from './api';

export type JobState = 'running' | 'finished' | 'failed' | 'cancelled';

export interface IJob {
  id: number;
  kind: 'run' | 'verify';
  state: JobState;
  started: number;
  ended: number | null;
  returncode: number | null;
  seconds: number;
}

export interface IStepProgress {
  step: string;
  /** pending (queued), running, cached, finished, failed, skipped, interrupted */
  status: string;
  seconds: number | null;
  elapsed?: number;
  cached_from_run: number | null;
  error: string | null;
}

export interface IRunProgress {
  id: number;
  status: string;
  started: number;
  ended: number | null;
  seconds: number | null;
  params: Record<string, unknown>;
  overrides: Record<string, unknown>;
  metrics: Record<string, unknown>;
  error: string | null;
  steps: IStepProgress[];
}

export interface IFailure {
  step: string;
  error: string | null;
  stdout: string;
  stderr: string;
}

export interface IRunState {
  project: string;
  job: IJob | null;
  run: IRunProgress | null;
  failures: IFailure[];
  job_error: string | null;
}

export interface IRunSummary {
  id: number;
  status: string;
  started: number;
  seconds: number | null;
  params: Record<string, unknown>;
  overrides: Record<string, unknown>;
  metrics: Record<string, unknown>;
  steps: Record<string, number>;
  error: string | null;
}

export interface IStaleReason {
  kind: string;
  detail: string;
}

export interface IStatus {
  stale: string[];
  steps: Record<string, { stale: boolean; reasons: IStaleReason[]; run: number | null }>;
  notes: string[];
}

export interface IRuns {
  project: string;
  runs: IRunSummary[];
  status: IStatus;
}

export interface IChange {
  a: unknown;
  b: unknown;
}

export interface IComparison {
  a: number;
  b: number;
  params: Record<string, IChange>;
  metrics: Record<string, IChange & { changed: boolean; delta?: number }>;
  artifacts: Record<string, { changed: boolean }>;
  changed_artifacts: string[];
  code: Record<string, Record<string, IChange>>;
  status: IChange;
}

export interface IVerifyValue {
  name: string;
  /** equal, different, nondeterministic, not comparable */
  status: string;
  detail: string;
}

export interface IVerifyReport {
  ok: boolean;
  notebook: string;
  notebook_error: string;
  counts: Record<string, number>;
  notes: string[];
  steps: { step: string; error: string; inputs_differ: string[]; values: IVerifyValue[] }[];
}

export interface IVerifyState {
  project: string;
  job: IJob | null;
  report: IVerifyReport | null;
  error: string | null;
}

export interface ISubmitRequest {
  project: string;
  engine: 'argo' | 'kfp';
  image?: string;
  namespace?: string;
  params?: string[];
  dry_run: boolean;
}

export interface ISubmitResult {
  submitted: boolean;
  dry_run: boolean;
  engine: string;
  output: string;
}

const post = <T>(endpoint: string, body: unknown): Promise<T> =>
  requestAPI<T>(endpoint, { method: 'POST', body: JSON.stringify(body) });

export function startRun(project: string, params: string[]): Promise<{ job: IJob }> {
  return post('run', { project, params });
}

export function runState(project: string): Promise<IRunState> {
  return requestAPI<IRunState>('run', { method: 'GET' }, { project });
}

export function cancelJob(project: string): Promise<{ job: IJob }> {
  return post('cancel', { project });
}

export function listRuns(project: string): Promise<IRuns> {
  return requestAPI<IRuns>('runs', { method: 'GET' }, { project });
}

export function compareRuns(project: string, a: number, b: number): Promise<IComparison> {
  return requestAPI<IComparison>(
    'runs/compare',
    { method: 'GET' },
    { project, a: String(a), b: String(b) }
  );
}

export function startVerify(path: string, project: string): Promise<{ job: IJob }> {
  return post('verify', { path, project });
}

export function verifyState(project: string): Promise<IVerifyState> {
  return requestAPI<IVerifyState>('verify', { method: 'GET' }, { project });
}

export function submit(request: ISubmitRequest): Promise<ISubmitResult> {
  return post('submit', request);
}
