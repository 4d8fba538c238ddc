import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** Builds the dashboard to dist/, which the API serves under /dashboard/. */
export default defineConfig({
  root: import.meta.dirname,
  base: '/dashboard/',
  plugins: [react()],
  // Nothing inlined as a data: URL, which the dashboard's Content-Security-Policy refuses: the favicon is a file of its own.
  build: { outDir: 'dist', emptyOutDir: true, assetsInlineLimit: 0 },
  logLevel: 'warn',
});
