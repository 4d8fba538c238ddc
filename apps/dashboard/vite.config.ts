import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** Builds the dashboard to dist/, which the API serves under /dashboard/. */
export default defineConfig({
  root: import.meta.dirname,
  base: '/dashboard/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true },
  logLevel: 'warn',
});
