import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../errors.js';
import { compareCodePoints } from './paths.js';

/** torchvision's IMG_EXTENSIONS (lower case, matched case-insensitively). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];

export interface ImageFolderItem {
  /** Absolute path of the image file. */
  path: string;
  /** Path relative to the scanned root, with '/' separators. */
  relativePath: string;
  /** Class index (position of the class folder in sorted order); -1 without class folders. */
  label: number;
  /** Class folder name; '' without class folders. */
  className: string;
}

export interface ImageFolder {
  root: string;
  /** Class names in index order (sorted by code point, as torchvision). Empty without class folders. */
  classes: string[];
  classToIdx: Record<string, number>;
  items: ImageFolderItem[];
}

export interface ImageFolderOptions {
  /**
   * Extensions to keep (with dot, any case). Default: IMAGE_EXTENSIONS (torchvision ImageFolder).
   * 'all' keeps every file, as unilm's `_make_imagenet_index` does.
   */
  extensions?: readonly string[] | 'all';
  /** true (default): first-level folders are classes, as torchvision ImageFolder. false: every image under root, no labels. */
  classFolders?: boolean;
  /** Allow class folders without any image (torchvision raises). Default false. */
  allowEmptyClasses?: boolean;
}

/**
 * Lists a folder of images like torchvision `ImageFolder` / unilm `ImageNetDataset.make_dataset_index`:
 * classes = sorted first-level folder names, index = position; inside a class, directories are
 * visited in sorted path order (sorted `os.walk`, symlinks followed) and files in sorted order.
 */
export async function scanImageFolder(root: string, options: ImageFolderOptions = {}): Promise<ImageFolder> {
  const absRoot = path.resolve(root);
  const all = options.extensions === 'all';
  const exts = new Set((all ? [] : (options.extensions as readonly string[] | undefined) ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase()));
  const keep = (name: string): boolean => all || exts.has(path.extname(name).toLowerCase());
  await assertDirectory(absRoot);

  if (options.classFolders === false) {
    const files = await walkSorted(absRoot, keep);
    return {
      root: absRoot,
      classes: [],
      classToIdx: {},
      items: files.map((p) => ({ path: p, relativePath: toPosix(path.relative(absRoot, p)), label: -1, className: '' })),
    };
  }

  const entries = await fs.readdir(absRoot, { withFileTypes: true });
  const classes: string[] = [];
  for (const e of entries) {
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDirectory(path.join(absRoot, e.name))))) classes.push(e.name);
  }
  classes.sort(compareCodePoints);
  if (classes.length === 0) throw new DataError(`scanImageFolder: no class folders in ${absRoot}`);
  const classToIdx: Record<string, number> = {};
  classes.forEach((c, i) => (classToIdx[c] = i));

  const items: ImageFolderItem[] = [];
  const empty: string[] = [];
  for (const [label, className] of classes.entries()) {
    const files = await walkSorted(path.join(absRoot, className), keep);
    if (files.length === 0) empty.push(className);
    for (const p of files) items.push({ path: p, relativePath: toPosix(path.relative(absRoot, p)), label, className });
  }
  if (empty.length > 0 && !options.allowEmptyClasses) {
    throw new DataError(
      `scanImageFolder: no image files for class(es) ${empty.join(', ')} in ${absRoot} ` +
        `(extensions: ${all ? 'all' : [...exts].join(' ')}); pass allowEmptyClasses to accept`,
    );
  }
  return { root: absRoot, classes, classToIdx, items };
}

/** Async iterable over the images of a folder (see scanImageFolder). */
export async function* readImageFolder(root: string, options: ImageFolderOptions = {}): AsyncGenerator<ImageFolderItem> {
  const folder = await scanImageFolder(root, options);
  yield* folder.items;
}

/** Every kept file under dir: directories in sorted path order (sorted `os.walk`), files sorted within each. */
export async function walkSorted(dir: string, keep: (name: string) => boolean): Promise<string[]> {
  const groups: { dir: string; files: string[] }[] = [];
  const visiting = new Set<string>();
  const visit = async (d: string): Promise<void> => {
    const real = await fs.realpath(d);
    if (visiting.has(real)) return; // symlink cycle
    visiting.add(real);
    const entries = await fs.readdir(d, { withFileTypes: true });
    const files: string[] = [];
    for (const e of entries) {
      const full = path.join(d, e.name);
      if (e.isDirectory() || (e.isSymbolicLink() && (await isDirectory(full)))) await visit(full);
      else if ((e.isFile() || e.isSymbolicLink()) && keep(e.name)) files.push(e.name);
    }
    files.sort(compareCodePoints);
    groups.push({ dir: d, files });
    visiting.delete(real);
  };
  await visit(dir);
  groups.sort((a, b) => compareCodePoints(a.dir, b.dir));
  return groups.flatMap((g) => g.files.map((f) => path.join(g.dir, f)));
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function assertDirectory(p: string): Promise<void> {
  let st;
  try {
    st = await fs.stat(p);
  } catch (e) {
    throw new DataError(`scanImageFolder: cannot read ${p}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new DataError(`scanImageFolder: ${p} is not a directory`);
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}
