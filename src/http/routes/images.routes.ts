import { Router, type Request } from 'express';
import type { ImageListFilter, ImagesService } from '../../domain/images.service';
import { op } from '../middleware/observe';
import { principalOf } from '../middleware/authn';
import { validate, validQuery } from '../validate';

/**
 * Images. An image name may contain `/` (`team/app`): the path takes it either raw
 * (`/workspaces/ws/images/team/app`) or with the slashes encoded once (`/workspaces/ws/images/team%2Fapp`).
 * Encode them when the last component of the name is `versions`.
 */
const imageOf = (req: Request): string => {
  const p = req.params as unknown as { image: string[] | string };
  return Array.isArray(p.image) ? p.image.join('/') : p.image;
};

export function imagesRoutes(images: ImagesService): Router {
  const r = Router();

  r.get('/images', op('images_list'), validate({ query: 'ImageListQuery' }), async (req, res) => {
    const q = validQuery<Omit<ImageListFilter, 'pageSize'> & { page_size: number }>(req);
    const { page_size: pageSize, ...rest } = q;
    const page = await images.list(principalOf(req), { ...rest, pageSize });
    res.setHeader('X-Total-Count', String(page.total));
    res.json(page);
  });

  r.delete('/images', op('images_delete'), validate({ body: 'ImagesDelete' }), async (req, res) => {
    const { items } = req.body as { items: { workspace: string; image: string }[] };
    res.json(await images.deleteImages(principalOf(req), items));
  });

  r.delete('/workspaces/:workspace/images/*image/versions', op('image_versions_delete'), validate({ body: 'ImageVersionsDelete' }), async (req, res) => {
    const { tags } = req.body as { tags: string[] };
    res.json(await images.deleteVersions(principalOf(req), req.params.workspace as string, imageOf(req), tags));
  });

  r.get('/workspaces/:workspace/images/*image', op('images_get'), async (req, res) => {
    res.json(await images.get(principalOf(req), req.params.workspace as string, imageOf(req)));
  });

  r.patch('/workspaces/:workspace/images/*image', op('images_update'), validate({ body: 'ImageUpdate' }), async (req, res) => {
    const { description } = req.body as { description: string };
    res.json(await images.describe(principalOf(req), req.params.workspace as string, imageOf(req), description));
  });

  return r;
}
