// The Deploy dialog: `nb2pipe submit` from the panel. Engine, image, namespace and parameters
// go to the server; the kubeconfig, tokens and the KFP endpoint stay there (the server's
// environment). "Dry run" shows what would be sent (the Argo Workflow YAML) and sends nothing.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { button, el } from './dom';
import { submit } from './workbench_api';

function field(label: string, input: HTMLElement, hint = ''): HTMLElement {
  const row = el('label', 'nb2pipe-deploy-field');
  row.append(el('span', 'nb2pipe-io-label', label), input);
  if (hint) {
    row.appendChild(el('span', 'nb2pipe-hint', hint));
  }
  return row;
}

class DeployBody extends Widget {
  private readonly _engine = el('select', 'jp-mod-styled nb2pipe-deploy-engine');
  private readonly _image = el('input', 'jp-mod-styled nb2pipe-deploy-image');
  private readonly _namespace = el('input', 'jp-mod-styled nb2pipe-deploy-namespace');
  private readonly _params = el('input', 'jp-mod-styled nb2pipe-deploy-params');
  private readonly _result = el('div', 'nb2pipe-deploy-result');
  private readonly _buttons: HTMLButtonElement[] = [];

  constructor(private readonly _project: string) {
    super();
    this.addClass('nb2pipe-deploy-dialog');
    for (const [value, label] of [['argo', 'Argo Workflows'], ['kfp', 'Kubeflow Pipelines']]) {
      const option = el('option', '', label);
      option.value = value;
      this._engine.appendChild(option);
    }
    this._image.placeholder = 'registry.example.com/team/pipeline:1.0';
    this._namespace.placeholder = 'default: the kubeconfig context’s';
    this._params.placeholder = 'name=value …';
    const dry = button('nb2pipe-deploy-dryrun', 'Dry run (show the YAML)', () => void this._send(true));
    const real = button('jp-mod-warn nb2pipe-deploy-submit', 'Submit', () => void this._send(false));
    this._buttons.push(dry, real);
    const actions = el('div', 'nb2pipe-buttons');
    actions.append(dry, real);
    this.node.append(
      el('div', 'nb2pipe-hint', `Project ${_project}. Credentials (kubeconfig, KFP token and ` +
        'endpoint) are the Jupyter server’s own and never leave it.'),
      field('Engine', this._engine),
      field('Image', this._image, 'built from the project’s Dockerfile and pushed'),
      field('Namespace', this._namespace),
      field('Parameters', this._params),
      actions,
      this._result
    );
  }

  private async _send(dryRun: boolean): Promise<void> {
    this._result.replaceChildren(el('div', 'nb2pipe-busy', dryRun ? 'Preparing…' : 'Submitting…'));
    this._buttons.forEach(b => (b.disabled = true));
    try {
      const res = await submit({
        project: this._project,
        engine: this._engine.value as 'argo' | 'kfp',
        image: this._image.value.trim() || undefined,
        namespace: this._namespace.value.trim() || undefined,
        params: this._params.value.split(/[\s,]+/).filter(p => p),
        dry_run: dryRun
      });
      const head = res.submitted ? 'Submitted.' : 'Dry run: nothing was sent.';
      this._result.replaceChildren(
        el('div', res.submitted ? 'nb2pipe-status nb2pipe-fresh' : 'nb2pipe-hint', head),
        el('pre', 'nb2pipe-deploy-output', res.output)
      );
    } catch (error) {
      const box = el('div', 'nb2pipe-error nb2pipe-deploy-error', (error as Error).message);
      box.setAttribute('role', 'alert');
      this._result.replaceChildren(box);
    } finally {
      this._buttons.forEach(b => (b.disabled = false));
    }
  }
}

/** The submit dialog for a generated project. */
export async function openDeployDialog(project: string): Promise<void> {
  await showDialog({
    title: 'Submit the pipeline to a cluster',
    body: new DeployBody(project),
    buttons: [Dialog.cancelButton({ label: 'Close' })]
  });
}
