import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{r as $,u as m}from"./chunk-T6CCLYWV.js";import{e as u}from"./chunk-67BG23Y2.js";var p=u($(),1);function h(d,t,g=[]){let r=`----trusted-publish-${(0,p.randomBytes)(16).toString("hex")}`,e=n=>`"${n.replace(/"/g,"%22").replace(/\r/g,"%0D").replace(/\n/g,"%0A")}"`,i=n=>n.map(([o,f])=>`--${r}\r
Content-Disposition: form-data; name=${e(o)}\r
\r
${f}\r
`).join(""),c=Object.entries(t.headers??{}).map(([n,o])=>`${n}: ${o}\r
`).join(""),s=Buffer.from(`${i(d)}--${r}\r
Content-Disposition: form-data; name=${e(t.field)}; filename=${e(t.filename)}\r
Content-Type: ${t.contentType}\r
${c}\r
`),a=Buffer.from(`\r
${i(g)}--${r}--\r
`);async function*y(){yield s,yield*m(t.path),yield a}return{length:s.length+t.size+a.length,data:y(),contentType:`multipart/form-data; boundary=${r}`}}export{h as a};
