import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  CommandToolbarButton,
  ICommandPalette,
  InputDialog,
  Notification
} from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { Menu } from '@lumino/widgets';

import { CellMarks } from './cellmarks';
import { pipelineIcon } from './icon';
import { PipelinePanel } from './panel';
import {
  FLAG_TAGS,
  FlagTag,
  clearTags,
  selectedCells,
  stepName,
  tagStep,
  tagsOf,
  toggleFlag
} from './tags';

export const CommandIDs = {
  convert: 'nb2pipe:convert',
  refresh: 'nb2pipe:refresh',
  showPanel: 'nb2pipe:show-panel',
  tagStep: 'nb2pipe:tag-step',
  tagClear: 'nb2pipe:tag-clear',
  tag: (flag: FlagTag) => `nb2pipe:tag-${flag}`
};

const FLAG_LABELS: Record<FlagTag, string> = {
  skip: 'Skip Cell (not in the pipeline)',
  imports: 'Imports Cell',
  functions: 'Functions Cell',
  parameters: 'Parameters Cell'
};

/** Adds the "Convert to pipeline" button to every notebook's toolbar. */
class ConvertButton implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  constructor(private readonly _app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new CommandToolbarButton({
      commands: this._app.commands,
      id: CommandIDs.convert,
      label: 'Convert to pipeline'
    });
    button.addClass('nb2pipe-toolbar-button');
    panel.toolbar.insertAfter('cellType', 'nb2pipe-convert', button);
    return button;
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nb2pipe-jupyterlab:plugin',
  description: 'Convert a notebook into a pipeline project with nb2pipe.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const { commands, shell } = app;
    const marks = new Map<NotebookPanel, CellMarks>();
    const panel = new PipelinePanel({
      onPreview: (nb, preview, ids) => {
        let m = marks.get(nb);
        if (!m) {
          m = new CellMarks(nb);
          marks.set(nb, m);
          nb.disposed.connect(() => {
            marks.get(nb)?.dispose();
            marks.delete(nb);
          });
        }
        if (preview) {
          m.update(preview, ids);
        } else {
          m.clear();
        }
      },
      openFile: (path: string) => {
        void commands
          .execute('docmanager:open', {
            path,
            factory: path.endsWith('.md') ? 'Markdown Preview' : undefined
          })
          .catch(error => Notification.error(`Cannot open ${path}: ${error}`));
      }
    });
    shell.add(panel, 'right', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'nb2pipe-panel');
    }
    panel.setNotebook(tracker.currentWidget);
    tracker.currentChanged.connect((_, current) => {
      if (current) {
        panel.setNotebook(current);
      }
    });

    const hasNotebook = () => tracker.currentWidget !== null;

    commands.addCommand(CommandIDs.convert, {
      label: 'Convert to pipeline',
      caption: 'Convert this notebook into a pipeline project (nb2pipe)',
      icon: pipelineIcon,
      isEnabled: hasNotebook,
      execute: async () => {
        const current = tracker.currentWidget;
        if (!current) {
          return;
        }
        panel.setNotebook(current);
        shell.activateById(panel.id);
        const result = await panel.convert();
        // autoClose must be given: without it JupyterLab only counts the notice in the bell
        const showPanel = {
          label: 'Show diagnostics',
          callback: () => shell.activateById(panel.id)
        };
        if (!result) {
          Notification.error('nb2pipe: the conversion request failed; see the Pipeline panel.', {
            autoClose: false,
            actions: [showPanel]
          });
        } else if (result.status === 'failed') {
          const n = result.diagnostics.filter(d => d.severity === 'error').length;
          Notification.error(`nb2pipe: not converted (${n} error${n === 1 ? '' : 's'}).`, {
            autoClose: false,
            actions: [showPanel]
          });
        } else if (result.kept.length) {
          const k = result.kept.length;
          Notification.warning(
            `nb2pipe: ${result.status} → ${result.outdir}; kept ${k} hand-edited ` +
              `file${k === 1 ? '' : 's'} (${result.kept.join(', ')}) instead of regenerating ` +
              `${k === 1 ? 'it' : 'them'}.`,
            { autoClose: 10000, actions: [{ ...showPanel, label: 'Show' }] }
          );
        } else if (result.status === 'unchanged') {
          Notification.info(`nb2pipe: unchanged → ${result.outdir} (nothing to write).`, {
            autoClose: 4000
          });
        } else {
          Notification.success(
            `nb2pipe: converted → ${result.outdir} (${result.written.length} files written)`,
            { autoClose: 4000 }
          );
        }
        return result;
      }
    });
    commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh pipeline preview',
      isEnabled: hasNotebook,
      execute: () => panel.refresh()
    });
    commands.addCommand(CommandIDs.showPanel, {
      label: 'Show pipeline panel',
      execute: () => shell.activateById(panel.id)
    });

    const currentCells = () => {
      const nb = tracker.currentWidget;
      return nb ? selectedCells(nb.content) : [];
    };
    commands.addCommand(CommandIDs.tagStep, {
      label: 'Start Pipeline Step Here…',
      caption: 'Tag the cell step:NAME so a new pipeline step starts at it',
      isEnabled: hasNotebook,
      execute: async () => {
        const cells = currentCells();
        if (!cells.length) {
          return;
        }
        const existing = tagsOf(cells[0]).find(t => t.startsWith('step:'));
        const answer = await InputDialog.getText({
          title: 'Pipeline step name',
          label: 'Lowercase letters, digits and underscores',
          text: existing ? existing.slice(5) : ''
        });
        if (!answer.button.accept || !answer.value) {
          return;
        }
        const name = stepName(answer.value);
        if (!name) {
          Notification.error(`"${answer.value}" is not a usable step name.`);
          return;
        }
        tagStep(cells, name);
      }
    });
    for (const flag of FLAG_TAGS) {
      commands.addCommand(CommandIDs.tag(flag), {
        label: FLAG_LABELS[flag],
        caption: `Toggle the '${flag}' tag nb2pipe reads`,
        isEnabled: hasNotebook,
        isToggled: () => {
          const cells = currentCells();
          return cells.length > 0 && cells.every(c => tagsOf(c).includes(flag));
        },
        execute: () => toggleFlag(currentCells(), flag)
      });
    }
    commands.addCommand(CommandIDs.tagClear, {
      label: 'Clear Pipeline Tags',
      isEnabled: hasNotebook,
      execute: () => clearTags(currentCells())
    });

    const submenu = new Menu({ commands });
    submenu.title.label = 'Pipeline (nb2pipe)';
    submenu.title.icon = pipelineIcon;
    submenu.addItem({ command: CommandIDs.tagStep });
    for (const flag of FLAG_TAGS) {
      submenu.addItem({ command: CommandIDs.tag(flag) });
    }
    submenu.addItem({ type: 'separator' });
    submenu.addItem({ command: CommandIDs.tagClear });
    app.contextMenu.addItem({
      type: 'submenu',
      submenu,
      selector: '.jp-Notebook .jp-Cell',
      rank: 20
    });

    app.docRegistry.addWidgetExtension('Notebook', new ConvertButton(app));

    if (palette) {
      const category = 'Pipeline (nb2pipe)';
      for (const command of [CommandIDs.convert, CommandIDs.refresh, CommandIDs.showPanel,
        CommandIDs.tagStep, CommandIDs.tagClear]) {
        palette.addItem({ command, category });
      }
    }
  }
};

export default plugin;
