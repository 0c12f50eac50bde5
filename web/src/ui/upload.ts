import type { MediaUploadOut } from "../api/types";

/** PUT the file to the presigned URL with XMLHttpRequest: fetch has no upload progress. */
export function uploadComProgresso(destino: MediaUploadOut, file: File, onProgress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(destino.method, destino.url);
    for (const [name, value] of Object.entries(destino.headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? (onProgress(1), resolve()) : reject(new Error(`upload ${xhr.status}`)));
    xhr.onerror = () => reject(new Error("upload failed"));
    xhr.send(file);
  });
}
