import { render } from 'preact';
import { initAuth } from './auth';
import { App } from './app';
import './styles.css';

const root = document.getElementById('app')!;
initAuth()
  .then(({ error }) => {
    root.textContent = ''; // the boot message
    render(<App signInError={error} />, root);
  })
  .catch((e: unknown) => {
    root.textContent = `The console could not start: ${e instanceof Error ? e.message : String(e)}`;
  });
