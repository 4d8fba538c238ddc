const STORAGE_KEY = 'sluice.apiKey';

/**
 * The API key lives in sessionStorage: it survives a reload but not closing the tab, and it is only
 * ever sent in the Authorization header, never in a URL.
 */
export function storedApiKey(): string | null {
  return window.sessionStorage.getItem(STORAGE_KEY);
}

export function storeApiKey(key: string | null): void {
  if (key === null) window.sessionStorage.removeItem(STORAGE_KEY);
  else window.sessionStorage.setItem(STORAGE_KEY, key);
}
