import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{randomBytes as d}from"node:crypto";import y from"node:fs";function g(i,t){let n=`----trusted-publish-${d(16).toString("hex")}`,r=e=>`"${e.replace(/"/g,"%22").replace(/\r/g,"%0D").replace(/\n/g,"%0A")}"`,s=i.map(([e,p])=>`--${n}\r
Content-Disposition: form-data; name=${r(e)}\r
\r
${p}\r
`),o=Buffer.from(`${s.join("")}--${n}\r
Content-Disposition: form-data; name=${r(t.field)}; filename=${r(t.filename)}\r
Content-Type: ${t.contentType}\r
\r
`),a=Buffer.from(`\r
--${n}--\r
`);async function*m(){yield o,yield*y.createReadStream(t.path,{highWaterMark:1024*1024}),yield a}return{length:o.length+t.size+a.length,data:m(),contentType:`multipart/form-data; boundary=${n}`}}export{g as a};
