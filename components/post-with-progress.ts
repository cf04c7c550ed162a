/**
 * POST a form with upload progress (fetch reports none: XMLHttpRequest's upload events do);
 * resolves with the status and the JSON body (empty when the answer is not JSON). Used by the
 * adapter upload and the training dataset upload.
 */
export function postWithProgress(url: string, body: FormData, onProgress: (loaded: number, total: number) => void): Promise<{ status: number; json: { id?: string; error?: string } }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    };
    xhr.onload = () => {
      let json: { id?: string; error?: string } = {};
      try {
        json = JSON.parse(xhr.responseText) as typeof json;
      } catch {}
      resolve({ status: xhr.status, json });
    };
    xhr.onerror = () => reject(new Error("the upload failed (network error)"));
    xhr.send(body);
  });
}
